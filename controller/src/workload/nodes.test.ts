import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchNode, type Node } from "./nodes.js";

describe("matchNode: only what a kubelet or host cannot forge (M13)", () => {
  const node = (name: string, labels: Record<string, string> = {}, ip?: string): Node => ({
    metadata: { name, labels },
    ...(ip ? { status: { addresses: [{ type: "InternalIP", address: ip }] } } : {}),
  });
  const nodes = [
    node("host-a"),
    node("n2", { "k0smotron.io/machine-name": "rm-2", "cluster.x-k8s.io/machine-name": "rm-2" }),
    node("n3", {}, "10.0.0.3"),
    node("md-1"),
    node("host-b", {}, "10.0.0.9"),
  ];
  type Want = { machineNames: string[]; hostname?: string; address: string };
  const name = (r: ReturnType<typeof matchNode<Node>>) =>
    "node" in r ? r.node.metadata.name : "ambiguous" in r ? `ambiguous:${r.ambiguous.join(",")}` : undefined;
  const cases: [string, Want, string | undefined][] = [
    ["by the Machine's or RemoteMachine's name", { machineNames: ["rm-x", "MD-1"], address: "10.9.9.9" }, "md-1"],
    [
      "by the host's hostname (a Node without addresses)",
      { machineNames: [], hostname: "HOST-A", address: "x" },
      "host-a",
    ],
    ["by hostname when an address matches", { machineNames: [], hostname: "host-b", address: "10.0.0.9" }, "host-b"],
    [
      "not by a hostname whose Node reports other addresses (a host naming another machine's Node)",
      { machineNames: [], hostname: "host-b", address: "10.0.0.1" },
      undefined,
    ],
    ["never by a machine-name label a kubelet set on itself", { machineNames: ["rm-2"], address: "x" }, undefined],
    ["never by an address alone", { machineNames: ["x"], address: "10.0.0.3" }, undefined],
    [
      "two Nodes matching is ambiguous",
      { machineNames: ["md-1"], hostname: "host-a", address: "x" },
      "ambiguous:host-a,md-1",
    ],
  ];
  for (const [what, want, expected] of cases) it(what, () => assert.equal(name(matchNode(nodes, want)), expected));
});
