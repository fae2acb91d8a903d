/**
 * What the reconcilers' tests over the in-memory API share: a controller context (the informers,
 * with the RemoteMachine indexes every controller's mappers read, the Secret reader over the same
 * API, the task manager and host sessions over a scripted host) and a log that says nothing.
 */
import { SecretWordIndex } from "../cloudinit/redact.js";
import { R } from "../kube/api.js";
import type { FakeApi } from "../kube/fake.js";
import type { Secret } from "../kube/objects.js";
import { SecretReader } from "../security/secrets.js";
import type { Dialer } from "../ssh/executor.js";
import { hostWork } from "./hostwork.js";
import { addRemoteMachineIndexes } from "./remotemachine/watches.js";

export function fakeInformers(api: FakeApi) {
  const inf = {
    remoteMachines: api.informer(R.remoteMachines),
    machines: api.informer(R.machines),
    clusters: api.informer(R.clusters),
    jobs: api.informer(R.jobs),
    pooledRemoteMachines: api.informer(R.pooledRemoteMachines),
    remoteMachineTemplates: api.informer(R.remoteMachineTemplates),
  };
  addRemoteMachineIndexes(inf as never);
  return inf;
}

/** Secrets as the controller reads them (security/secrets.ts), over the in-memory API. */
export function fakeSecrets(
  api: FakeApi,
  words = new SecretWordIndex(),
  opts: ConstructorParameters<typeof SecretReader>[3] = {},
): SecretReader {
  const fetch = (ns: string, name: string) => api.get<Secret>(R.secrets, ns, name);
  return new SecretReader(api.informer(R.secrets), fetch, words, opts);
}

export const silentLog = { debug() {}, info() {}, warn() {}, error() {}, with: () => silentLog };

/**
 * A controller context over `api` and a scripted host: the task manager and host sessions built
 * as setup.ts builds them (10 slots, no warm connections), quiet stand-ins for the rest. `parts`
 * replaces any of it; `notify` is told of task changes.
 */
export function fakeCtx<P extends object>(api: FakeApi, dialer: Dialer, parts: P & { notify?: (key: string) => void }) {
  const { notify = () => {}, ...rest } = parts;
  const { tasks, hosts } = hostWork(dialer, { notify, limits: 10, sessions: { warm: { max: 0, idleMs: 1000 } } });
  return {
    api,
    log: silentLog,
    events: { emit: async () => {} },
    tasks,
    hosts,
    nodes: { nodesOf: () => undefined, forget() {} },
    queue: { add() {}, addRateLimited: () => 1000, forget() {}, depth: 0 },
    pools: {},
    poolFacts: false,
    inf: fakeInformers(api),
    secrets: fakeSecrets(api),
    now: () => new Date(),
    ...rest,
  };
}
