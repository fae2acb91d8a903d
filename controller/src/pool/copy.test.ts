import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type PooledRemoteMachine, RemoteAnnotations } from "@capi-remote/shared";
import { claimPatch, propagatedMetadata } from "./copy.js";

const prm: PooledRemoteMachine = {
  apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
  kind: "PooledRemoteMachine",
  metadata: {
    name: "pm-1",
    namespace: "ns",
    labels: {
      "example.com/rack": "r1",
      "cluster.x-k8s.io/cluster-name": "c1",
      "clusterctl.cluster.x-k8s.io/move": "",
      "node.kubernetes.io/instance-type": "x",
    },
    annotations: {
      "example.com/owner": "team-a",
      "kubectl.kubernetes.io/last-applied-configuration": "{}",
      "remote.infrastructure.cluster.x-k8s.io/claimed-by": "rm-1",
      [RemoteAnnotations.HostKey]: "ssh-ed25519 AAAA",
    },
  },
  spec: {
    pool: "p",
    machine: {
      address: "10.0.0.1",
      port: 2222,
      user: "capi",
      useSudo: true,
      sshKeyRef: { name: "k" },
      cleanUpCommands: ["k0s reset"],
      bastion: { address: "10.0.0.254", sshKeyRef: { name: "b" } },
    },
  },
};

describe("what a RemoteMachine takes from its pool machine", () => {
  it("user labels and annotations only; Kubernetes, Cluster API and our own keys stay", () => {
    assert.deepEqual(propagatedMetadata(prm), {
      labels: { "example.com/rack": "r1" },
      annotations: { "example.com/owner": "team-a" },
    });
  });
  it("every connection field set on the pool machine, the recorded host key and the pool machine's name", () => {
    assert.deepEqual(claimPatch(prm), {
      metadata: {
        labels: { "example.com/rack": "r1" },
        annotations: {
          "example.com/owner": "team-a",
          [RemoteAnnotations.PoolMachine]: "pm-1",
          [RemoteAnnotations.HostKey]: "ssh-ed25519 AAAA",
        },
      },
      spec: {
        address: "10.0.0.1",
        port: 2222,
        user: "capi",
        useSudo: true,
        sshKeyRef: { name: "k" },
        cleanUpCommands: ["k0s reset"],
        bastion: { address: "10.0.0.254", sshKeyRef: { name: "b" } },
      },
    });
  });
});
