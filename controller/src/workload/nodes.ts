/**
 * Nodes in workload clusters, watched (not polled) per cluster through the `<cluster>-kubeconfig`
 * Secret, and the provider-ID hand-off: when a machine's Node registers without a provider ID,
 * capi-remote sets it, so Cluster API can match the Node and the Machine goes Running.
 */
import { KubeApi, R, WORKLOAD_LIMITS } from "../kube/api.js";
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

/**
 * What is held of a workload cluster's Nodes: that cluster's API server is the tenant's to choose
 * (it may send anything), so the cache holds at most this many Nodes (Kubernetes' own scale limit
 * is 5,000), each cut down to what matching and the hand-off read, with at most this many addresses.
 */
export const WORKLOAD_NODES = { maxNodes: 10_000, maxAddresses: 16, pageSize: 100 } as const;

/** A Node as the cache keeps it: the fields matching and the provider-ID hand-off read, bounded. */
export function projectNode(n: Node): Node {
  const str = (v: unknown, max: number) => (typeof v === "string" ? v.slice(0, max) : undefined);
  const m = n.metadata ?? {};
  const addresses = Array.isArray(n.status?.addresses) ? n.status.addresses : [];
  const providerID = str(n.spec?.providerID, 512);
  const uid = str(m.uid, 64);
  const resourceVersion = str(m.resourceVersion, 64);
  return {
    metadata: {
      name: str(m.name, 253) ?? "",
      ...(uid !== undefined ? { uid } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    ...(providerID !== undefined ? { spec: { providerID } } : {}),
    status: {
      addresses: addresses
        .slice(0, WORKLOAD_NODES.maxAddresses)
        .map((a) => ({ type: str(a?.type, 32) ?? "", address: str(a?.address, 253) ?? "" })),
    },
  };
}

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
    const api = new KubeApi(kc, {}, WORKLOAD_LIMITS);
    const informer = new Informer<Node>(api, R.nodes, this.log.with({ workloadCluster: clusterKey }), {
      pageSize: WORKLOAD_NODES.pageSize,
      maxItems: WORKLOAD_NODES.maxNodes,
      project: projectNode,
    });
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
