/**
 * The workload cluster's Node of a provisioned machine gets its provider ID, so Cluster API can
 * link Machine and Node. The Node is found by name, hostname or address (never a guess: a wrong
 * provider ID hands one machine's Node to another Machine) in the workload cluster's Node cache.
 */
import { ConditionType, Reason, RemoteAnnotations } from "@capi-remote/shared";
import { R } from "../../../kube/api.js";
import { secretValue } from "../../../kube/objects.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { unreadNote } from "../../../security/secrets.js";
import { matchNode, type Node, type Workload } from "../../../workload/nodes.js";
import { condition, type Deps, logOf, secretOf } from "../deps.js";
import type { Scope } from "../scope.js";

/** How long a provider ID we set counts as set while the Node cache has not caught up. */
const HAND_OFF_MS = 30_000;
const HAND_OFFS_KEPT = 10_000;

type Ready = Extract<Workload, { synced: boolean }>;

const waiting = (d: Deps, s: Scope, message: string) =>
  condition(d, s, ConditionType.NodeProviderIDSet, "False", Reason.WaitingForNode, message);
const isSet = (d: Deps, s: Scope, node: string) =>
  condition(d, s, ConditionType.NodeProviderIDSet, "True", Reason.NodeProviderIDSet, `Node ${node}`);

export const node = (d: Deps): Phase<Scope> => ({
  name: "node",
  when: (s) => !!s.checkNode,
  run: async (s) => {
    const machine = s.machine;
    const clusterName = s.cluster?.metadata.name ?? "";
    if (!machine) return undefined;
    if (machine.status?.nodeRef) {
      isSet(d, s, machine.status.nodeRef.name);
      return undefined;
    }
    const workload = await workloadOf(d, s, clusterName);
    if (!workload) return undefined;
    const match = matchNode(workload.nodes, {
      machineNames: [s.rm.metadata.name, machine.metadata.name],
      hostname:
        s.status.addresses?.find((a) => a.type === "Hostname")?.address ??
        s.rm.metadata.annotations?.[RemoteAnnotations.Hostname],
      address: s.rm.spec.address ?? "",
    });
    if ("ambiguous" in match) {
      const message = `Nodes ${match.ambiguous.slice(0, 5).join(", ")} all match this machine by name; none is chosen`;
      condition(d, s, ConditionType.NodeProviderIDSet, "False", Reason.NodeMatchAmbiguous, message, "Warning");
      return undefined;
    }
    if (!("node" in match)) waiting(d, s, "waiting for the machine's Node to register");
    else handOff(d, s, workload, `${s.rm.metadata.namespace ?? ""}/${clusterName}`, match.node);
    return undefined;
  },
});

/** The workload cluster's Nodes once readable; otherwise says why not and returns undefined. */
async function workloadOf(d: Deps, s: Scope, clusterName: string): Promise<Ready | undefined> {
  const ns = s.rm.metadata.namespace ?? "";
  const secret = await secretOf(d, ns, `${clusterName}-kubeconfig`);
  const workload = d.ctx.nodes.nodesOf(
    `${ns}/${clusterName}`,
    secretValue(secret, "value"),
    secret?.metadata.resourceVersion ?? "",
  );
  if (!workload) {
    waiting(d, s, `waiting for Secret ${clusterName}-kubeconfig${unreadNote(secret)}`);
    return undefined;
  }
  if (workload.refused) {
    // Never watched: the Secret holds something that would execute, read files of the
    // controller or weaken TLS (see kube/kubeconfig.ts), or is not a kubeconfig at all.
    const message = `Secret ${clusterName}-kubeconfig refused: ${workload.refused.message}`;
    condition(d, s, ConditionType.NodeProviderIDSet, "False", workload.refused.reason, message, "Warning");
    return undefined;
  }
  if (!workload.synced) {
    waiting(d, s, "reading the workload cluster's Nodes");
    return undefined;
  }
  return workload as Ready;
}

/** Sets the Node's provider ID unless it has one (ours: fine; another: a conflict). */
function handOff(d: Deps, s: Scope, workload: Ready, clusterKey: string, node: Node): void {
  const providerID = s.rm.spec.providerID ?? "";
  const key = `${clusterKey}/${node.metadata.name}/${node.metadata.uid ?? ""}`;
  const handedOff = d.mem.nodeHandOffs.get(key);
  if (!node.spec?.providerID && handedOff?.providerID === providerID && Date.now() - handedOff.at < HAND_OFF_MS) {
    // Set a moment ago; the Node cache has not caught up yet.
    isSet(d, s, node.metadata.name);
  } else if (!node.spec?.providerID) {
    d.mem.nodeHandOffs.set(key, { providerID, at: Date.now() });
    if (d.mem.nodeHandOffs.size > HAND_OFFS_KEPT)
      d.mem.nodeHandOffs.delete(d.mem.nodeHandOffs.keys().next().value as string);
    void workload.api
      .patch(R.nodes, undefined, node.metadata.name, { spec: { providerID } })
      // Logged, not an Event: the Machine's nodeRef shows the link, and a write to the
      // management cluster per machine for it is not worth it. Failures are logged as well and
      // retried by the next pass.
      .then(() => logOf(d, s).info("set the Node's providerID", { node: node.metadata.name }))
      .catch((e: unknown) => {
        d.mem.nodeHandOffs.delete(key);
        logOf(d, s).warn("could not set the Node's providerID", { node: node.metadata.name, err: e });
      });
    isSet(d, s, node.metadata.name);
  } else if (node.spec.providerID !== providerID) {
    const message = `Node ${node.metadata.name} already has providerID ${node.spec.providerID}`;
    condition(d, s, ConditionType.NodeProviderIDSet, "False", Reason.NodeProviderIDConflict, message, "Warning");
  } else {
    isSet(d, s, node.metadata.name);
  }
}
