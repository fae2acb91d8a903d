/**
 * What the Secret cache keeps of each Secret. The controller reads only the Secrets it is pointed
 * at (bootstrap data, SSH keys, known_hosts, workload kubeconfigs), but it cannot narrow its watch
 * by label: k0smotron's SSH key Secrets carry none, so a label-selected cache would break drop-in
 * compatibility. It therefore sees every Secret of the namespaces it watches. Secrets of the
 * types below are never any of those, and keep no data in the cache: Helm's release records
 * (hundreds of KiB each, and a cluster has thousands), service account tokens, image pull
 * Secrets and bootstrap tokens. Their words are then not redaction words either, which costs
 * nothing: a value the controller never reads cannot reach its output except through bootstrap
 * data, whose own Secret is kept.
 */
import type { Secret } from "../kube/objects.js";
import { slim } from "../runtime/informer.js";

export const DATALESS_SECRET_TYPES: ReadonlySet<string> = new Set([
  "helm.sh/release.v1",
  "kubernetes.io/service-account-token",
  "kubernetes.io/dockercfg",
  "kubernetes.io/dockerconfigjson",
  "bootstrap.kubernetes.io/token",
]);

/** A cached Secret: its data dropped when its type is one the controller never reads. */
export function projectSecret(s: Secret): Secret {
  const kept = slim(s);
  if (kept.type !== undefined && DATALESS_SECRET_TYPES.has(kept.type)) {
    delete kept.data;
    delete (kept as { stringData?: unknown }).stringData;
  }
  return kept;
}

/** For a message about a Secret with no data: why, when its type is one the cache keeps dataless. */
export function datalessNote(s: Secret): string {
  return s.type !== undefined && DATALESS_SECRET_TYPES.has(s.type)
    ? ` (capi-remote keeps no data of Secrets of type ${s.type}; use type Opaque)`
    : "";
}
