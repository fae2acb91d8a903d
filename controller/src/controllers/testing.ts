/**
 * What the reconcilers' tests over the in-memory API share: the informers a controller context
 * holds, with the RemoteMachine indexes every controller's mappers read, the Secret reader over
 * the same API, and a log that says nothing.
 */
import { SecretWordIndex } from "../cloudinit/redact.js";
import { isNotFound, R } from "../kube/api.js";
import type { FakeApi } from "../kube/fake.js";
import type { Secret } from "../kube/objects.js";
import { SecretReader } from "../security/secrets.js";
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
  const fetch = (ns: string, name: string) =>
    api.get<Secret>(R.secrets, ns, name).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
  return new SecretReader(api.informer(R.secrets), fetch, words, opts);
}

export const silentLog = { debug() {}, info() {}, warn() {}, error() {}, with: () => silentLog };
