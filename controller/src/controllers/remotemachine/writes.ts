/**
 * A RemoteMachine's own metadata writes that a bootstrap task makes after SSH work: the start
 * record (start annotation, first-use host key and our finalizer in one write) and, when the
 * task attaches to a run already recorded, the finalizer and host key alone.
 *
 * These run inside the task, long after the reconcile pass that started it returned, so they
 * never write from that pass's copy: each starts from the freshest copy this process knows (our
 * own last write, else the informer cache) and guards whatever it derives from it. A JSON patch
 * that appends to an existing list or map is safe whatever changed since; one that has to create
 * the list or map (`add /metadata/finalizers [ours]`) would replace entries another writer added
 * in between, so it carries a `test` of the resourceVersion it was computed from. When that test
 * (or the API server's own conflict check) fails, the object is read again and the write
 * recomputed, a bounded number of times.
 */
import { REMOTE_MACHINE_FINALIZER, RemoteAnnotations, type RemoteMachine } from "@capi-remote/shared";
import { ApiError, type KubeApi, R } from "../../kube/api.js";
import type { Named } from "../../kube/objects.js";
import { annotationOps, finalizerOps, type JsonPatchOp } from "../../kube/patch.js";

export type RM = RemoteMachine & Named;

export interface WriteDeps {
  api: Pick<KubeApi, "get" | "patch">;
  /** The freshest copy this process knows (our last write over the informer cache). */
  current(namespace: string, name: string): RM | undefined;
  /** Our write returned `obj` (fed to the read-your-own-writes overlay). */
  noteWritten(obj: RM): void;
  now(): Date;
  /** Runs a write others yield to (start records: a machine waits for its record). */
  priority<T>(write: () => Promise<T>): Promise<T>;
}

/** Attempts before giving up on a write whose guard keeps failing (someone writes in a loop). */
const ATTEMPTS = 4;

/** A failed `test` op answers 422; the API server's own resourceVersion check answers 409. */
const guardFailed = (e: unknown) => e instanceof ApiError && (e.status === 422 || e.status === 409);

/**
 * JSON patch ops for `set` on `obj`, guarded: when an op creates a whole list or map, the
 * patch first tests the resourceVersion the ops were computed from.
 */
export function guardedOps(obj: RM, ops: JsonPatchOp[]): JsonPatchOp[] {
  const replacesWhole = ops.some(
    (o) => o.op === "add" && (o.path === "/metadata/finalizers" || o.path === "/metadata/annotations"),
  );
  if (!replacesWhole || ops.length === 0) return ops;
  const rv = obj.metadata.resourceVersion;
  if (!rv) throw new Error("a guarded write needs the resourceVersion it was computed from");
  return [{ op: "test", path: "/metadata/resourceVersion", value: rv }, ...ops];
}

/**
 * Writes `opsFor(fresh)` from the freshest copy; on a failed guard reads the object again and
 * recomputes. Nothing is written when `opsFor` returns no ops.
 */
async function guardedWrite(
  d: WriteDeps,
  namespace: string,
  name: string,
  opsFor: (rm: RM) => JsonPatchOp[],
  priority = false,
): Promise<void> {
  let rm = d.current(namespace, name);
  for (let attempt = 1; ; attempt++) {
    if (!rm) rm = await d.api.get<RM>(R.remoteMachines, namespace, name);
    const ops = opsFor(rm);
    if (ops.length === 0) return;
    const target = rm;
    const write = () => d.api.patch<RM>(R.remoteMachines, namespace, name, guardedOps(target, ops), "json");
    try {
      d.noteWritten(await (priority ? d.priority(write) : write()));
      return;
    } catch (e) {
      if (!guardFailed(e) || attempt >= ATTEMPTS) throw e;
      rm = undefined;
    }
  }
}

/**
 * The start record, written before the first step runs: the start annotation, the host key seen
 * on first use and our finalizer (appended, never replacing another's), in one write. When the
 * start is already recorded (a lost answer, a retried task), only what is missing is added.
 */
export async function recordStart(
  d: WriteDeps,
  namespace: string,
  name: string,
  hostKey?: string,
  /** The start stamp the run records on the machine too (its once-only identity). */
  stamp?: string,
): Promise<void> {
  const startedAt = stamp ?? d.now().toISOString();
  await guardedWrite(
    d,
    namespace,
    name,
    (rm) => {
      const a = rm.metadata.annotations;
      const set: Record<string, string> = {};
      if (!a?.[RemoteAnnotations.BootstrapStarted]) set[RemoteAnnotations.BootstrapStarted] = startedAt;
      if (hostKey && a?.[RemoteAnnotations.HostKey] !== hostKey) set[RemoteAnnotations.HostKey] = hostKey;
      return [
        ...finalizerOps(rm.metadata.finalizers, REMOTE_MACHINE_FINALIZER),
        ...(Object.keys(set).length ? annotationOps(a, set) : []),
      ];
    },
    true,
  );
}

/**
 * A task attached to a run the host already carries: our finalizer and the host key seen, when
 * missing. No start annotation (the run was recorded by whoever started it).
 */
export async function recordAttach(d: WriteDeps, namespace: string, name: string, hostKey?: string): Promise<void> {
  await guardedWrite(d, namespace, name, (rm) => {
    const a = rm.metadata.annotations;
    return [
      ...finalizerOps(rm.metadata.finalizers, REMOTE_MACHINE_FINALIZER),
      ...(hostKey && a?.[RemoteAnnotations.HostKey] !== hostKey
        ? annotationOps(a, { [RemoteAnnotations.HostKey]: hostKey })
        : []),
    ];
  });
}
