/**
 * Which Node of a workload cluster is a machine's, before its provider ID is set. Only what a
 * kubelet or host cannot forge for another machine counts:
 *
 * - The Node's name equal to the Machine's or the RemoteMachine's name. Node names are bound to
 *   the kubelet's credential (`system:node:<name>` under NodeRestriction): a kubelet cannot
 *   rename its Node or write another Node.
 * - The Node's name equal to the hostname the machine reported over its verified SSH session,
 *   and, when the Node reports addresses, one of them equal to the machine's `spec.address`: a
 *   host can report any hostname, so the name alone would let it take another machine's Node.
 *
 * Never labels (a kubelet sets its own, and NodeRestriction does not cover
 * `cluster.x-k8s.io/machine-name` or `k0smotron.io/machine-name`), never addresses alone (a
 * kubelet reports its own), and never a Node that already has a provider ID (checked by the
 * caller). Two different Nodes matching is a refusal, not a choice.
 */
export interface MatchableNode {
  metadata: { name: string };
  status?: { addresses?: { type: string; address: string }[] };
}

export type NodeMatch<N> = { node: N } | { none: true } | { ambiguous: string[] };

export function matchNode<N extends MatchableNode>(
  nodes: N[],
  want: { machineNames: string[]; hostname?: string | undefined; address: string },
): NodeMatch<N> {
  const names = new Set(want.machineNames.filter(Boolean).map((n) => n.toLowerCase()));
  const hostname = want.hostname?.toLowerCase();
  const found = nodes.filter((n) => {
    const name = n.metadata.name.toLowerCase();
    if (names.has(name)) return true;
    if (!hostname || name !== hostname) return false;
    const reported = (n.status?.addresses ?? []).filter((a) => a.type === "InternalIP" || a.type === "ExternalIP");
    return reported.length === 0 || reported.some((a) => a.address === want.address);
  });
  if (found.length === 0) return { none: true };
  if (found.length > 1) return { ambiguous: found.map((n) => n.metadata.name) };
  return { node: found[0] as N };
}
