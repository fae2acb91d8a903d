/**
 * The controller's caches of the management cluster: one informer per kind it reads, Secrets
 * cached as security/secretcache.ts says, and every cached Secret's words known to the redactor
 * before anything reads the Secret.
 */
import type {
  Cluster,
  Machine,
  PooledRemoteMachine,
  RemoteCluster,
  RemoteMachine,
  RemoteMachineTemplate,
} from "@capi-remote/shared";
import type { SecretWordIndex } from "./cloudinit/redact.js";
import { type KubeApi, R } from "./kube/api.js";
import type { Named, Secret } from "./reconcile/context.js";
import { JOB_LABEL, type Job } from "./reconcile/provisionjob.js";
import { Informer, keyOf, slim } from "./runtime/informer.js";
import type { Logger } from "./runtime/log.js";
import { projectSecret } from "./security/secretcache.js";

export function makeCaches(
  api: KubeApi,
  log: Logger,
  words: SecretWordIndex,
  opts: { namespace?: string; onRecovered: () => void },
) {
  const ns = opts.namespace
    ? { namespace: opts.namespace, onRecovered: opts.onRecovered }
    : { onRecovered: opts.onRecovered };
  const inf = {
    remoteMachines: new Informer<RemoteMachine & Named>(api, R.remoteMachines, log, ns),
    machines: new Informer<Machine & Named>(api, R.machines, log, ns),
    clusters: new Informer<Cluster & Named>(api, R.clusters, log, ns),
    secrets: new Informer<Secret>(api, R.secrets, log, { ...ns, project: (s) => projectSecret(s, slim) }),
    jobs: new Informer<Job>(api, R.jobs, log, { ...ns, labelSelector: JOB_LABEL }),
    pooledRemoteMachines: new Informer<PooledRemoteMachine & Named>(api, R.pooledRemoteMachines, log, ns),
    remoteMachineTemplates: new Informer<RemoteMachineTemplate & Named>(api, R.remoteMachineTemplates, log, ns),
  };
  // First of the Secret handlers: a Secret's words are known before anything reads the Secret.
  const learn = (s: Secret) =>
    words.set(
      keyOf(s),
      Object.values(s.data ?? {}).map((v) => Buffer.from(v, "base64").toString("utf8")),
    );
  inf.secrets.on({ onAdd: learn, onUpdate: learn, onDelete: (s) => words.delete(keyOf(s)) });
  const remoteClusters = new Informer<RemoteCluster & Named>(api, R.remoteClusters, log, ns);
  return { inf, remoteClusters };
}
