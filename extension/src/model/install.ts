/**
 * Installing capi-remote from the extension: the manifests the project ships (deploy/install.yaml,
 * bundled at build time) applied server-side, one by one, with the person's own credentials.
 * First every object's create and patch rights are asked of the API server (a
 * SelfSubjectAccessReview each): if any is refused, nothing is applied and the refusals are
 * listed. Then the objects are applied in the file's order (definitions, policies, namespace,
 * RBAC, the controller), stopping at the first refusal; the result always lists what was applied,
 * what failed and why, and what was not applied. Pure: the host's client is passed in.
 */
import { type Obj, Refused } from "./types.js";

/** The field manager the install's server-side apply writes under. */
export const FIELD_MANAGER = "capi-remote-lens-extension";

/** How to reach each kind the install manifests hold (the API server's plural and scope). */
export const INSTALL_KINDS: Record<string, { plural: string; namespaced: boolean }> = {
  CustomResourceDefinition: { plural: "customresourcedefinitions", namespaced: false },
  ValidatingAdmissionPolicy: { plural: "validatingadmissionpolicies", namespaced: false },
  ValidatingAdmissionPolicyBinding: { plural: "validatingadmissionpolicybindings", namespaced: false },
  Namespace: { plural: "namespaces", namespaced: false },
  ClusterRole: { plural: "clusterroles", namespaced: false },
  ClusterRoleBinding: { plural: "clusterrolebindings", namespaced: false },
  ServiceAccount: { plural: "serviceaccounts", namespaced: true },
  Role: { plural: "roles", namespaced: true },
  RoleBinding: { plural: "rolebindings", namespaced: true },
  Deployment: { plural: "deployments", namespaced: true },
  Service: { plural: "services", namespaced: true },
};

/** "ClusterRole capi-remote-manager", "Deployment capi-remote-system/capi-remote-controller-manager" */
export const describe = (m: Obj) =>
  `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`;

/** The API group of an apiVersion ("" for the core group). */
const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0] : "") as string;

/** Where an object is applied: its own path, with the field manager (no force: a conflict is reported). */
export function applyPath(m: Obj): string {
  const k = INSTALL_KINDS[m.kind ?? ""];
  if (!k || !m.apiVersion) throw new Error(`${describe(m)}: the install does not know this kind`);
  const prefix = m.apiVersion.includes("/") ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
  const ns = k.namespaced ? `/namespaces/${encodeURIComponent(m.metadata.namespace ?? "default")}` : "";
  return `${prefix}${ns}/${k.plural}/${encodeURIComponent(m.metadata.name)}?fieldManager=${FIELD_MANAGER}`;
}

/** One right to ask for: a verb on a kind (in a namespace). */
export interface Right {
  group: string;
  resource: string;
  namespace?: string;
  verb: "create" | "patch";
}

/** The distinct rights a set of manifests needs (server-side apply creates or patches). */
export function rightsFor(manifests: Obj[]): Right[] {
  const seen = new Map<string, Right>();
  for (const m of manifests) {
    const k = INSTALL_KINDS[m.kind ?? ""];
    if (!k) continue;
    for (const verb of ["create", "patch"] as const) {
      const r: Right = {
        group: groupOf(m.apiVersion ?? ""),
        resource: k.plural,
        verb,
        ...(k.namespaced ? { namespace: m.metadata.namespace ?? "default" } : {}),
      };
      seen.set(`${r.group}/${r.resource}/${r.namespace ?? ""}/${verb}`, r);
    }
  }
  return [...seen.values()];
}

export const describeRight = (r: Right) =>
  `${r.verb} ${r.resource}${r.group ? `.${r.group}` : ""}${r.namespace ? ` in ${r.namespace}` : " (cluster-wide)"}`;

/** What the host does for the install, as the person using it. */
export interface InstallClient {
  /** Server-side apply of one object at `path`; rejects with the API server's answer. */
  apply(path: string, manifest: Obj): Promise<void>;
  /** Whether the person may; undefined when the API server cannot say (the review itself failed). */
  canI(right: Right): Promise<boolean | undefined>;
}

export interface InstallProgress {
  phase: "checking" | "applying" | "done" | "refused" | "failed";
  total: number;
  applied: string[];
  /** The object being applied now. */
  current?: string;
  failed?: { object: string; error: string; forbidden: boolean };
  /** Rights the API server said no to (phase "refused": nothing was applied). */
  refused?: string[];
  notApplied: string[];
}

const errorOf = (e: unknown): { error: string; forbidden: boolean } => {
  const x = e as { message?: unknown; code?: number; status?: number; reason?: string; error?: { code?: number } };
  const error = typeof x?.message === "string" ? x.message : String(e);
  const forbidden =
    e instanceof Refused ||
    x?.code === 403 ||
    x?.status === 403 ||
    x?.error?.code === 403 ||
    x?.reason === "Forbidden" ||
    /forbidden/i.test(error);
  return { error, forbidden };
};

/**
 * Runs the install; `progress` is called at every step with the whole picture so far. Resolves
 * with the last picture (never rejects).
 */
export async function install(
  manifests: Obj[],
  client: InstallClient,
  progress: (p: InstallProgress) => void,
): Promise<InstallProgress> {
  const names = manifests.map(describe);
  let p: InstallProgress = { phase: "checking", total: manifests.length, applied: [], notApplied: names };
  const step = (next: Partial<InstallProgress>) => {
    p = { ...p, ...next };
    progress(p);
    return p;
  };
  step({});
  const unknown = manifests.filter((m) => !INSTALL_KINDS[m.kind ?? ""]);
  if (unknown.length)
    return step({
      phase: "failed",
      failed: { object: describe(unknown[0] as Obj), error: "the install does not know this kind", forbidden: false },
    });
  const rights = rightsFor(manifests);
  const answers = await Promise.all(rights.map((r) => client.canI(r).catch(() => undefined)));
  const refused = rights.filter((_, i) => answers[i] === false).map(describeRight);
  if (refused.length) return step({ phase: "refused", refused });
  for (const [i, m] of manifests.entries()) {
    step({ phase: "applying", current: names[i] as string });
    try {
      await client.apply(applyPath(m), m);
    } catch (e) {
      const { current: _, ...rest } = p;
      p = rest;
      return step({
        phase: "failed",
        failed: { object: names[i] as string, ...errorOf(e) },
        notApplied: names.slice(i + 1),
      });
    }
    step({ applied: names.slice(0, i + 1), notApplied: names.slice(i + 1) });
  }
  const { current: _, ...rest } = p;
  p = rest;
  return step({ phase: "done" });
}

/** "5 CustomResourceDefinitions, 1 Namespace, ..." in the manifests' order. */
export function summary(manifests: Obj[]): string {
  const counts = new Map<string, number>();
  for (const m of manifests) counts.set(m.kind ?? "?", (counts.get(m.kind ?? "?") ?? 0) + 1);
  return [...counts.entries()].map(([k, n]) => `${n} ${k}${n > 1 ? "s" : ""}`).join(", ");
}
