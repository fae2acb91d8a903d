/**
 * JSON merge patch (RFC 7386) that turns `from` into `to`; undefined when they are equal.
 * Values inside arrays are compared by content, whatever the order of their keys: the API server
 * returns objects with sorted keys, and a comparison by text would see a change in every
 * condition list and write status on every reconcile.
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
  if (!isObj(from) || !isObj(to)) return sameJson(from, to) ? undefined : to;
  const out: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) {
    if (!(k in to) || to[k] === undefined) {
      if (k in from && from[k] !== undefined) out[k] = null;
      continue;
    }
    const d = mergePatch(from[k], to[k]);
    if (d !== undefined) out[k] = d;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Deep equality of JSON values; object key order does not matter, `undefined` members are absent. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  if (!a || !b || typeof a !== "object" || typeof b !== "object") return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(rb, k) && sameJson(ra[k], rb[k]));
}

/** One JSON patch (RFC 6902) operation. */
export type JsonPatchOp = { op: string; path: string; value?: unknown };

/** JSON patch operations adding a finalizer to a list (appended: others' entries stay). */
export function finalizerOps(list: string[] | undefined, finalizer: string): JsonPatchOp[] {
  if (list?.includes(finalizer)) return [];
  return list?.length
    ? [{ op: "add", path: "/metadata/finalizers/-", value: finalizer }]
    : [{ op: "add", path: "/metadata/finalizers", value: [finalizer] }];
}

/** JSON patch operations setting annotations (each its own member when the map exists). */
export function annotationOps(current: Record<string, string> | undefined, set: Record<string, string>): JsonPatchOp[] {
  if (!current) return [{ op: "add", path: "/metadata/annotations", value: set }];
  return Object.entries(set).map(([k, v]) => ({
    op: "add",
    path: `/metadata/annotations/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`,
    value: v,
  }));
}
