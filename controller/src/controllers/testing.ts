/**
 * What the reconcilers' tests over the in-memory API share: the informers a controller context
 * holds, with the RemoteMachine indexes every controller's mappers read, and a log that says
 * nothing.
 */
import { R } from "../kube/api.js";
import type { FakeApi } from "../kube/fake.js";
import { addRemoteMachineIndexes } from "./remotemachine/watches.js";

export function fakeInformers(api: FakeApi) {
  const inf = {
    remoteMachines: api.informer(R.remoteMachines),
    machines: api.informer(R.machines),
    clusters: api.informer(R.clusters),
    secrets: api.informer(R.secrets),
    jobs: api.informer(R.jobs),
    pooledRemoteMachines: api.informer(R.pooledRemoteMachines),
    remoteMachineTemplates: api.informer(R.remoteMachineTemplates),
  };
  addRemoteMachineIndexes(inf as never);
  return inf;
}

export const silentLog = { debug() {}, info() {}, warn() {}, error() {}, with: () => silentLog };
