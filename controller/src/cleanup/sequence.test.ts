import assert from "node:assert/strict";
import { cpus, loadavg } from "node:os";
import { after, describe, it } from "node:test";
import { BootstrapDataError, planBootstrap } from "../cloudinit/plan.js";
import { PlanPool } from "../cloudinit/planpool.js";
import { manyFiles, measured } from "../cloudinit/testing.js";
import { bootstrapFacts, cleanupCommands } from "./sequence.js";

const pool = new PlanPool({ workers: 2, queue: 16, timeoutMs: 3000, heapMiB: 64 });
after(() => pool.close());
const facts = (value: string) => bootstrapFacts({ value }, pool);

/**
 * Runs `fn` and reports its wall time and the event loop's worst delay meanwhile: the longest gap
 * between ticks of a 5 ms interval that runs from before `fn` until after it.
 */
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

  it("k0s worker: stop through the init system, reset with the bootstrap's kubelet root dir, else remove its files", async () => {
    const cmds = cleanupCommands({ kind: "k0s", facts: await facts(K0S_WORKER) });
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

  it("reads --kubelet-root-dir in both spellings, and ignores relative or unreadable data", async () => {
    const f = async (cmd: string) => (await facts(`#cloud-config\nruncmd:\n- ${cmd}\n`)).kubeletRootDir;
    assert.equal(await f("k0s install worker --kubelet-root-dir /data/kubelet"), "/data/kubelet");
    assert.equal(await f("k0s install worker --kubelet-root-dir=relative"), undefined);
    assert.equal(await f("echo --kubelet-root-dir=/x"), undefined);
    assert.deepEqual(await facts("#cloud-config\nruncmd: [a]\nruncmd: [b]\n"), { files: [] });
  });

  it("L9: a hostile data's k0s cleanup is planned off the event loop (figure, beside the same data on the loop)", async () => {
    // 20,000 write_files in just under 1 MiB: refused by the token limit, after lexing up to it.
    const value = manyFiles(20_000);
    assert.ok(value.length <= 1024 * 1024);
    await facts("#cloud-config\nruncmd: [a]\n"); // the workers are up
    const off = await measured(async () => cleanupCommands({ kind: "k0s", facts: await facts(value) }));
    const on = await measured(() => planBootstrap(value, undefined, { hostname: "localhost" }));
    console.log(
      `L9 cleanup figure: ${(value.length / 1024).toFixed(0)} KiB, 20,000 write_files: the k0s cleanup's facts in ${off.ms.toFixed(0)} ms in a worker, the event loop's worst delay meanwhile ${off.maxDelayMs.toFixed(0)} ms; the same data lexed on the event loop (baseline, this run): ${on.ms.toFixed(0)} ms, worst delay ${on.maxDelayMs.toFixed(0)} ms; timer runs during it ${off.ticks} in the worker case, ${on.ticks} on the loop; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`,
    );
    assert.ok(on.result instanceof BootstrapDataError, "the baseline lexes to the token limit");
    // Refused data ran nothing, so the cleanup is the plain sequence.
    assert.deepEqual(off.result, cleanupCommands({ kind: "k0s" }));
    // On the loop, no timer runs until the lexing is over; in the pool the loop keeps serving
    // timers while the worker lexes. Counted, not timed: a loaded machine delays both alike.
    assert.equal(on.ticks, 0, "the baseline blocks the loop for the whole lexing");
    assert.ok(off.ticks >= 2, `the loop ran its timer ${off.ticks} times during the worker's ${off.ms.toFixed(0)} ms`);
  });
});
