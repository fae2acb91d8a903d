import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bootstrapFacts, cleanupCommands } from "./sequence.js";

const SENTINEL_RM = "rm -f /run/cluster-api/bootstrap-success.complete";
const K0S_WORKER = `## template: jinja
#cloud-config
write_files:
- path: /etc/k0s.token
  permissions: "0600"
  content: token
- path: /etc/hosts
  append: true
  content: "10.0.0.1 api"
runcmd:
- k0s install worker --token-file /etc/k0s.token --kubelet-root-dir=/var/lib/kl
- k0s start
`;

describe("cleanupCommands", () => {
  it("custom commands are followed by the sentinel's removal", () => {
    assert.deepEqual(cleanupCommands({ kind: "kubeadm", custom: ["echo a"] }), ["echo a", SENTINEL_RM]);
  });

  it("kubeadm: kubeadm reset -f", () => {
    assert.deepEqual(cleanupCommands({ kind: "kubeadm" }), ["kubeadm reset -f", SENTINEL_RM]);
  });

  it("other providers: only the sentinel", () => {
    assert.deepEqual(cleanupCommands({ kind: "other" }), [SENTINEL_RM]);
  });

  it("k0s worker: stop through the init system, reset with the bootstrap's kubelet root dir, else remove its files", () => {
    const cmds = cleanupCommands({ kind: "k0s", data: { value: K0S_WORKER } });
    assert.equal(cmds.length, 3);
    assert.match(
      cmds[0] ?? "",
      /systemctl stop k0sworker.*rc-service k0sworker stop.*\/etc\/init\.d\/k0sworker stop.*else k0s stop/,
    );
    assert.equal(
      cmds[1],
      "if command -v k0s >/dev/null 2>&1; then k0s reset --kubelet-root-dir '/var/lib/kl'; else rm -f '/etc/k0s.token'; fi",
    );
    assert.equal(cmds[2], SENTINEL_RM);
  });

  it("k0s controller: etcd leave first; without bootstrap data a plain reset", () => {
    const cmds = cleanupCommands({ kind: "k0s-controller" });
    assert.equal(cmds[0], "if command -v k0s >/dev/null 2>&1; then k0s etcd leave; fi");
    assert.match(cmds[1] ?? "", /systemctl stop k0scontroller/);
    assert.equal(cmds[2], "if command -v k0s >/dev/null 2>&1; then k0s reset; else true; fi");
  });

  it("reads --kubelet-root-dir in both spellings, and ignores relative or unreadable data", () => {
    const f = (cmd: string) => bootstrapFacts({ value: `#cloud-config\nruncmd:\n- ${cmd}\n` }).kubeletRootDir;
    assert.equal(f("k0s install worker --kubelet-root-dir /data/kubelet"), "/data/kubelet");
    assert.equal(f("k0s install worker --kubelet-root-dir=relative"), undefined);
    assert.equal(f("echo --kubelet-root-dir=/x"), undefined);
    assert.deepEqual(bootstrapFacts({ value: "#cloud-config\nruncmd: [a]\nruncmd: [b]\n" }), { files: [] });
  });
});
