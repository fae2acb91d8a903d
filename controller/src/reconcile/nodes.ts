/**
 * Nodes in workload clusters, watched (not polled) per cluster through the `<cluster>-kubeconfig`
 * Secret, and the provider-ID hand-off: when a machine's Node registers without a provider ID,
 * capi-remote sets it, so Cluster API can match the Node and the Machine goes Running.
 */
import { KubeApi, R } from "../kube/api.js";
import { checkWorkloadKubeconfig, kubeConfigOf } from "../kube/kubeconfig.js";
import { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";

export { matchNode } from "../security/nodematch.js";

export interface Node {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; uid?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { providerID?: string };
  status?: { addresses?: { type: string; address: string }[] };
}

interface Watched {
  secretVersion: string;
  /** Why the kubeconfig was refused (nothing is watched then). */
  refused?: { reason: string; message: string };
  api?: KubeApi;
  informer?: Informer<Node>;
  synced: boolean;
}

export type Workload =
  | { api: KubeApi; nodes: Node[]; synced: boolean; refused?: undefined }
  | { refused: { reason: string; message: string } };

/** What `matchNode` and the provider-ID hand-off read of a Node. */
function matchView(n: Node): string {
  return JSON.stringify([n.spec?.providerID, n.status?.addresses?.map((a) => a.address)]);
}

export class NodeWatcher {
  private readonly clusters = new Map<string, Watched>();

  constructor(
    private readonly log: Logger,
    /**
     * Called with the cluster key ("ns/name") when one of its Nodes appears or changes what
     * matching reads (name, provider ID, addresses), with that Node; without
     * one when the whole cache is (re)synced. Status heartbeats do not call it: a real cluster's
     * Nodes update every few seconds, and each call costs reconciles.
     */
    private readonly onChange: (clusterKey: string, node?: Node) => void,
  ) {}

  /**
   * The workload cluster's Node cache, started on first use; undefined without a kubeconfig;
   * `refused` when the kubeconfig holds anything but what a Cluster API kubeconfig Secret holds
   * (see kube/kubeconfig.ts: it is checked before anything reaches client-node).
   */
  nodesOf(clusterKey: string, kubeconfig: string | undefined, secretVersion: string): Workload | undefined {
    const cur = this.clusters.get(clusterKey);
    if (!kubeconfig) {
      if (cur) this.forget(clusterKey);
      return undefined;
    }
    if (cur && cur.secretVersion === secretVersion) {
      if (cur.refused) return { refused: cur.refused };
      if (cur.api && cur.informer) return { api: cur.api, nodes: cur.informer.list(), synced: cur.synced };
    }
    if (cur) this.forget(clusterKey);
    const checked = checkWorkloadKubeconfig(kubeconfig);
    if (!checked.ok) {
      const refused = { reason: checked.reason, message: checked.message };
      this.clusters.set(clusterKey, { secretVersion, refused, synced: false });
      return { refused };
    }
    const kc = kubeConfigOf(checked.access);
    const api = new KubeApi(kc);
    const informer = new Informer<Node>(api, kc, R.nodes, this.log.with({ workloadCluster: clusterKey }));
    const w: Watched = { secretVersion, api, informer, synced: false };
    informer.on({
      onAdd: (n) => {
        if (w.synced) this.onChange(clusterKey, n);
      },
      onUpdate: (n, old) => {
        if (w.synced && matchView(n) !== matchView(old)) this.onChange(clusterKey, n);
      },
    });
    void informer.synced.then(() => {
      w.synced = true;
      this.onChange(clusterKey);
    });
    informer.start();
    this.clusters.set(clusterKey, w);
    return { api, nodes: [], synced: false };
  }

  forget(clusterKey: string): void {
    this.clusters.get(clusterKey)?.informer?.stop();
    this.clusters.delete(clusterKey);
  }

  stop(): void {
    for (const k of [...this.clusters.keys()]) this.forget(k);
  }
}
