/**
 * The controller's life: killed mid-bootstrap (the run finishes, once), paused clusters,
 * a bastion, and leader election across two replicas (standby idle, failover, clean handover).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, readHostFile, type TestHost } from "../bed/hosts.js";
import { CONTROLLER_NAMESPACE } from "../bed/identity.js";
import { canMakeHosts } from "../bed/index.js";
import { sleep, waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, makeCluster, makeMachine, objects, testBootstrap } from "./harness.js";

const RUNS = "/var/log/capi-remote-test-runs";

describe("controller life cycle", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("life");
  const hosts: Record<string, TestHost> = {};
  const controllers: ControllerProcess[] = [];
  let o: ReturnType<typeof objects>;

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    const made = await Promise.all(
      ["life-kill", "life-paused", "life-target", "life-bastion", "life-leader", "life-annot"].map((n) =>
        createHost(n, [key.publicKey]),
      ),
    );
    for (const h of made) hosts[h.name] = h;
    await o.apply([sshKeySecret(t.ns, "ssh-key", key)]);
    await makeCluster(t.bed, t.ns, "c1");
    await makeCluster(t.bed, t.ns, "c-paused", { paused: true });
  });
  after(async () => {
    for (const c of controllers) await c.stop();
    await Promise.all(Object.values(hosts).map((h) => destroyHost(h)));
  });

  const controller = async (name: string, args: string[] = []) => {
    const c = new ControllerProcess(t.bed, t.ns, name, args);
    controllers.push(c);
    await c.start();
    return c;
  };
  const provisioned = (name: string) => o.waitProvisioned(name);
  // The run's progress file: "started" once (the gate's winner), then one line per step begun.
  const progressOf = async (h: TestHost, name: string) =>
    ((await readHostFile(h, `/var/lib/capi-remote/${t.ns}.${name}/progress`)) ?? "").split("\n");
  const progressLines = async (h: TestHost, name: string) =>
    (await progressOf(h, name)).filter((l) => /^\d+ \d+ /.test(l)).length;

  it("SIGKILLed mid-bootstrap and restarted: the bootstrap completes and ran exactly once", async () => {
    const ctl = await controller("kill");
    const h = hosts["life-kill"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-kill",
      "c1",
      { address: h.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed, { sleep: 6 }),
    );
    // Kill it while the sleep step runs on the machine.
    await waitFor("the sleep step to begin", async () => (await progressLines(h, "m-kill")) >= 3, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await ctl.kill();
    await sleep(1000);
    await ctl.start();
    await provisioned("m-kill");
    assert.equal(await countLines(h, RUNS, "run"), 1, "the bootstrap ran once");
    assert.equal(await progressLines(h, "m-kill"), 5, "each of the 5 steps began once");
    assert.equal((await progressOf(h, "m-kill")).filter((l) => l === "started").length, 1, "the gate was taken once");
    await ctl.stop();
  });

  it("the machine's gate, not the bootstrap-started annotation, decides (L6): set before the start it skips nothing; edited or removed it is refused and starts nothing twice", async () => {
    const STARTED = "remote.infrastructure.cluster.x-k8s.io/bootstrap-started";
    const h = hosts["life-annot"]!;
    const ctl = await controller("annot");
    // Written by the tenant before any start, claiming a start long ago: the run still starts,
    // and gets its whole bootstrapSeconds (counted from its start on the machine).
    await makeMachine(
      t.bed,
      t.ns,
      "m-annot",
      "c1",
      { address: h.address, sshKeyRef: { name: "ssh-key" }, timeouts: { bootstrapSeconds: 120 } },
      testBootstrap(t.bed, { sleep: 6 }),
      { annotations: { [STARTED]: "2000-01-01T00:00:00Z" } },
    );
    await waitFor("the sleep step to begin", async () => (await progressLines(h, "m-annot")) >= 3, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    // Mid-run, the tenant removes it, then edits it: each refused, naming the record.
    for (const value of [null, new Date().toISOString()]) {
      const err = await o
        .patchInfra("remotemachines", "m-annot", { metadata: { annotations: { [STARTED]: value } } })
        .then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      assert.ok(err, `setting the annotation to ${value} was admitted`);
      assert.match(String(err.message), /bootstrap-started of RemoteMachine m-annot is the controller's record/);
    }
    // A restart mid-run: the new process finds the run by the machine's gate and follows it.
    await ctl.kill();
    await ctl.start();
    const rm = await o.waitProvisioned("m-annot");
    assert.equal(o.condition(rm, "BootstrapExecSucceeded")?.status, "True");
    assert.equal(await countLines(h, RUNS, "run"), 1, "the bootstrap ran once");
    assert.equal((await progressOf(h, "m-annot")).filter((l) => l === "started").length, 1, "the gate was taken once");
    await ctl.stop();
  });

  it("does nothing while the Cluster is paused, and provisions once it is resumed", async () => {
    const ctl = await controller("paused");
    const h = hosts["life-paused"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-paused",
      "c-paused",
      { address: h.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed),
    );
    await waitFor("Paused condition", async () => o.condition(await o.rm("m-paused"), "Paused")?.status === "True", {
      timeoutMs: 30_000,
    });
    await sleep(3000);
    const rm = await o.rm("m-paused");
    assert.equal(rm.metadata.annotations?.["remote.infrastructure.cluster.x-k8s.io/bootstrap-started"], undefined);
    assert.equal(await readHostFile(h, RUNS), undefined, "nothing ran while paused");
    await o.patchCluster("c-paused", { spec: { paused: false } });
    await provisioned("m-paused");
    assert.equal(o.condition(await o.rm("m-paused"), "Paused")?.status, "False");
    await ctl.stop();
  });

  it("reaches a machine through a bastion", async () => {
    const ctl = await controller("bastion");
    const target = hosts["life-target"]!;
    const bastion = hosts["life-bastion"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-bastion",
      "c1",
      {
        address: target.address,
        sshKeyRef: { name: "ssh-key" },
        hostKeys: [target.knownHostsLine],
        bastion: {
          address: bastion.address,
          user: "root",
          sshKeyRef: { name: "ssh-key" },
          hostKeys: [bastion.knownHostsLine],
        },
      },
      testBootstrap(t.bed),
    );
    await provisioned("m-bastion");
    const log = (await readHostFile(target, "/var/log/sshd.log")) ?? "";
    assert.match(
      log,
      new RegExp(`Connection from ${bastion.address.replace(/\./g, "\\.")} `),
      "the target saw the bastion connect",
    );
    assert.doesNotMatch(log, /Connection from 198\.18\.0\.1 /, "the target never saw the controller directly");
    assert.equal((await o.rm("m-bastion")).status.hostKey.source, "Pinned");
    await ctl.stop();
  });

  it("elects one leader; the standby takes over within the lease when the leader dies, and at once on SIGTERM", async () => {
    const le = [
      "--leader-elect=true",
      // The shipped RBAC allows Leases only in the controller's namespace; one Lease per suite run.
      `--leader-election-namespace=${CONTROLLER_NAMESPACE}`,
      `--leader-election-id=lease-${t.ns}`,
      "--lease-duration=4",
      "--renew-deadline=3",
      "--retry-period=1",
    ];
    const lease = async () =>
      (await t.bed.clients.objects.read({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: `lease-${t.ns}`, namespace: CONTROLLER_NAMESPACE },
      })) as Any;
    const first = await controller("leader-1", le);
    await waitFor("a leader", async () => (await lease()).spec?.holderIdentity, { timeoutMs: 15_000 });
    const second = await controller("leader-2", le);
    const holder1 = (await lease()).spec.holderIdentity;
    assert.equal(holder1.split("_").pop(), String(first.child?.pid), "the first replica leads");
    // The standby does no work: its reconcile counter stays at zero while the leader provisions.
    const h = hosts["life-leader"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-leader",
      "c1",
      { address: h.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed, { sleep: 4 }),
    );
    await waitFor("the sleep step", async () => (await progressLines(h, "m-leader")) >= 3, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    assert.equal(await second.metric("capi_remote_reconcile_total"), 0, "the standby reconciled nothing");
    const killedAt = Date.now();
    await first.kill();
    await waitFor(
      "the standby to lead",
      async () => (await lease()).spec.holderIdentity.endsWith(`_${second.child?.pid}`),
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    );
    const takeover = (Date.now() - killedAt) / 1000;
    console.log(`# standby took over ${takeover.toFixed(1)} s after the leader was killed (lease 4 s)`);
    assert.ok(takeover <= 4 + 2, `took ${takeover} s`);
    await provisioned("m-leader");
    assert.equal(await countLines(h, RUNS, "run"), 1, "no work was done twice");
    // A clean shutdown hands the lease over at once.
    const third = await controller("leader-3", le);
    const stoppedAt = Date.now();
    await second.stop();
    await waitFor(
      "the third to lead",
      async () => (await lease()).spec.holderIdentity.endsWith(`_${third.child?.pid}`),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    const handover = (Date.now() - stoppedAt) / 1000;
    console.log(`# lease handed over ${handover.toFixed(1)} s after SIGTERM`);
    assert.ok(handover < 4, `took ${handover} s`);
  });
});
