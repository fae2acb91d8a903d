/**
 * What a RemoteMachine takes from the pool machine it claimed: the connection fields (so that it
 * works on its own even if the pool machine is deleted), the recorded host key, and the pool
 * machine's own labels and annotations (passed on to the Machine, as k0smotron does). Pure.
 */
import { type PooledRemoteMachine, RemoteAnnotations } from "@capi-remote/shared";
import { withK0smotronDefaults } from "../migration/defaults.js";

/** Keys that belong to Kubernetes, Cluster API or capi-remote itself and are never copied. */
const NOT_COPIED = [
  /^kubectl\.kubernetes\.io\//,
  /^(.+\.)?cluster\.x-k8s\.io\//,
  /^(.+\.)?kubernetes\.io\//,
  /^(.+\.)?k8s\.io\//,
];

function copyable(map: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) if (!NOT_COPIED.some((re) => re.test(k))) out[k] = v;
  return out;
}

/** The pool machine's labels and annotations that travel to the RemoteMachine and the Machine. */
export function propagatedMetadata(prm: Pick<PooledRemoteMachine, "metadata">) {
  return { labels: copyable(prm.metadata.labels), annotations: copyable(prm.metadata.annotations) };
}

/** The merge patch that makes a RemoteMachine the holder of `prm`, with its connection fields. */
export function claimPatch(prm: Pick<PooledRemoteMachine, "metadata" | "spec">): {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: Record<string, unknown>;
} {
  const { labels, annotations } = propagatedMetadata(prm);
  const hostKey = prm.metadata.annotations?.[RemoteAnnotations.HostKey];
  // Zero values as Go clients write them (port 0, user "") are k0smotron's defaults, not values.
  const { address, ...rest } = withK0smotronDefaults(prm.spec.machine);
  const spec: Record<string, unknown> = { address };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) spec[k] = v;
  return {
    metadata: {
      labels,
      annotations: {
        ...annotations,
        [RemoteAnnotations.PoolMachine]: prm.metadata.name ?? "",
        ...(hostKey ? { [RemoteAnnotations.HostKey]: hostKey } : {}),
      },
    },
    spec,
  };
}

/**
 * After provisioning, k0smotron copies the RemoteMachine's labels and annotations to its Machine,
 * each only where the Machine has no value for that key (pool machines' reach the RemoteMachine
 * first, at the claim). The same here, without the keys that belong to Kubernetes, Cluster API
 * or capi-remote. Undefined when the Machine has them all.
 */
export function machineMetadataPatch(
  rm: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } },
  machine: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } },
): { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } | undefined {
  const missing = (from: Record<string, string>, have: Record<string, string> | undefined) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(from)) if (have?.[k] === undefined) out[k] = v;
    return Object.keys(out).length ? out : undefined;
  };
  const labels = missing(copyable(rm.metadata.labels), machine.metadata.labels);
  const annotations = missing(copyable(rm.metadata.annotations), machine.metadata.annotations);
  if (!labels && !annotations) return undefined;
  return { metadata: { ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) } };
}
