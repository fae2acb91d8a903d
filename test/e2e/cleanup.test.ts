/**
 * Default cleanups on delete, end to end: a RemoteMachine whose Machine's bootstrap config is a
 * K0sWorkerConfig, a K0sControllerConfig or a KubeadmConfig runs k0smotron's k0s sequence or
 * `kubeadm reset -f` on its host, where stand-in `k0s` and `kubeadm` binaries record how they
 * were called; a k0s machine without k0s loses the files its bootstrap wrote instead. The
 * bootstrap config kinds are test CRDs of those names (only the kind decides the cleanup).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { createHost, destroyHost, hostExec, readHostFile, type TestHost, writeHostFile } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { apply, waitEstablished } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { ControllerProcess, INFRA, makeCluster, objects, rest, testBootstrap } from "./harness.js";

const GROUP = "bootstrap.cleanup.testbed.capi-remote.dev";
const CALLS = "/var/log/standin-calls";
const SENTINEL = "/run/cluster-api/bootstrap-success.complete";
const KINDS = ["K0sWorkerConfig", "K0sControllerConfig", "KubeadmConfig"] as const;

const crd = (kind: string) => {
  const plural = `${kind.toLowerCase()}s`;
  const open = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${GROUP}`, labels: { "cluster.x-k8s.io/v1beta2": "v1beta1" } },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [
        {
          name: "v1beta1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", properties: { spec: open, status: open } } },
        },
      ],
    },
  };
};

/** A program that records its arguments and succeeds. */
const standIn = (name: string) => `#!/bin/sh\necho "${name} $*" >> ${CALLS}\n`;

describe("default cleanups on delete", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("cleanup");
  let ctl: ControllerProcess;
  const hosts: Record<string, TestHost> = {};
  let o: ReturnType<typeof objects>;

  before(async () => {
    o = objects(t.bed, t.ns);
    await apply(t.bed.clients, KINDS.map(crd) as never);
    await waitEstablished(
      t.bed.clients,
      KINDS.map((k) => `${k.toLowerCase()}s.${GROUP}`),
    );
    const key = await makeKeyPair("ed25519");
    const made = await Promise.all(
      ["cl-k0sw", "cl-k0sc", "cl-kubeadm", "cl-nok0s"].map((n) => createHost(n, [key.publicKey])),
    );
    for (const h of made) hosts[h.name] = h;
    await writeHostFile(hosts["cl-k0sw"]!, "/usr/local/bin/k0s", standIn("k0s"), "0755");
    await writeHostFile(hosts["cl-k0sc"]!, "/usr/local/bin/k0s", standIn("k0s"), "0755");
    await writeHostFile(hosts["cl-kubeadm"]!, "/usr/local/bin/kubeadm", standIn("kubeadm"), "0755");
    await o.apply([sshKeySecret(t.ns, "ssh-key", key)]);
    await makeCluster(t.bed, t.ns, "c1");
    ctl = new ControllerProcess(t.bed, t.ns, "cleanup");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    await Promise.all(Object.values(hosts).map((h) => destroyHost(h)));
    await Promise.all(Object.keys(hosts).map((name) => t.bed.clients.core.deleteNode({ name }).catch(() => undefined)));
  });

  /** A Machine whose bootstrap config is of `kind`, its data ready, its RemoteMachine at `h`. */
  const machine = async (name: string, h: TestHost, kind: (typeof KINDS)[number], data: string) => {
    const plural = `${kind.toLowerCase()}s`;
    await o.apply([
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: `${name}-bootstrap`, labels: { "cluster.x-k8s.io/cluster-name": "c1" } },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: data },
      },
      { apiVersion: `${GROUP}/v1beta1`, kind, metadata: { name }, spec: {} },
    ]);
    await rest(
      t.bed,
      "PATCH",
      `/apis/${GROUP}/v1beta1/namespaces/${t.ns}/${plural}/${name}/status`,
      {
        status: { initialization: { dataSecretCreated: true }, dataSecretName: `${name}-bootstrap` },
      },
      "application/merge-patch+json",
    );
    await o.apply([
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachine",
        metadata: { name },
        spec: { address: h.address, sshKeyRef: { name: "ssh-key" } },
      },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name },
        spec: {
          clusterName: "c1",
          bootstrap: { configRef: { apiGroup: GROUP, kind, name }, dataSecretName: `${name}-bootstrap` },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
        },
      },
    ]);
  };

  const deleteAndWait = async (name: string) => {
    await o.deleteMachine(name);
    await waitFor(`RemoteMachine ${name} gone`, async () => (await o.rmOrUndefined(name)) === undefined, {
      timeoutMs: 120_000,
      intervalMs: 250,
    });
  };
  const calls = async (h: TestHost) => ((await readHostFile(h, CALLS)) ?? "").split("\n").filter(Boolean);

  it("k0s worker, k0s controller and kubeadm machines run their providers' cleanup, then lose the sentinel and capi-remote's state", async () => {
    const w = hosts["cl-k0sw"]!;
    const c = hosts["cl-k0sc"]!;
    const k = hosts["cl-kubeadm"]!;
    await machine(
      "m-k0sw",
      w,
      "K0sWorkerConfig",
      testBootstrap(t.bed, {
        extra: "  - k0s install worker --token-file /etc/k0s.token --kubelet-root-dir=/var/lib/kl\n",
      }),
    );
    await machine("m-k0sc", c, "K0sControllerConfig", testBootstrap(t.bed, { extra: "  - k0s install controller\n" }));
    await machine("m-kubeadm", k, "KubeadmConfig", testBootstrap(t.bed, { extra: "  - kubeadm join --config /x\n" }));
    await Promise.all(["m-k0sw", "m-k0sc", "m-kubeadm"].map((n) => o.waitProvisioned(n, 180_000)));
    for (const h of [w, c, k]) assert.ok((await readHostFile(h, SENTINEL)) !== undefined, `${h.name} bootstrapped`);
    await Promise.all(["m-k0sw", "m-k0sc", "m-kubeadm"].map(deleteAndWait));
    // On these hosts no systemd, OpenRC or SysV script runs k0s: it is stopped with `k0s stop`.
    assert.deepEqual(await calls(w), [
      "k0s install worker --token-file /etc/k0s.token --kubelet-root-dir=/var/lib/kl",
      "k0s stop",
      "k0s reset --kubelet-root-dir /var/lib/kl",
    ]);
    assert.deepEqual(await calls(c), ["k0s install controller", "k0s etcd leave", "k0s stop", "k0s reset"]);
    assert.deepEqual(await calls(k), ["kubeadm join --config /x", "kubeadm reset -f"]);
    for (const h of [w, c, k]) {
      assert.equal(await readHostFile(h, SENTINEL), undefined, `${h.name}: the sentinel is gone`);
      assert.equal((await hostExec(h, "ls -A /var/lib/capi-remote")).trim(), "", `${h.name}: no state left`);
    }
  });

  it("a k0s machine without k0s (its bootstrap never installed it) loses the files its bootstrap wrote", async () => {
    const h = hosts["cl-nok0s"]!;
    const data = testBootstrap(t.bed).replace(
      "write_files:\n",
      'write_files:\n  - path: /etc/k0s.token\n    permissions: "0600"\n    content: token\n',
    );
    await machine("m-nok0s", h, "K0sWorkerConfig", data);
    await o.waitProvisioned("m-nok0s", 180_000);
    assert.equal(await readHostFile(h, "/etc/k0s.token"), "token");
    await deleteAndWait("m-nok0s");
    assert.equal(await readHostFile(h, "/etc/k0s.token"), undefined);
    assert.equal(await readHostFile(h, "/etc/capi-remote-test/ca.crt"), undefined);
    assert.equal(await readHostFile(h, SENTINEL), undefined);
  });
});
