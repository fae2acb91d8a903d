/**
 * Faults (issue 6), on a test bed of its own (its API server is restarted, which must not hit
 * other suites): the controller SIGKILLed at random points during 20 concurrent provisionings,
 * five times over; the leader of two replicas killed mid-work; kube-apiserver restarted
 * mid-work; a host's network cut during its bootstrap. Every bootstrap must run exactly once,
 * counted on the hosts (each run appends a line there), and every machine must end provisioned
 * with its Machine Running. Figures are printed; the bounds asserted are the issue's.
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { restartApiServer } from "../bed/controlplane.js";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, hostExec, setLink, type TestHost } from "../bed/hosts.js";
import { CONTROLLER_NAMESPACE } from "../bed/identity.js";
import { canMakeHosts, startTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";
import { sleep, waitFor } from "../bed/util.js";
import { type Any, ControllerProcess, makeCluster, makeMachine, objects, testBootstrap } from "./harness.js";

const RUNS = "/var/log/capi-remote-test-runs";
const STARTED = "remote.infrastructure.cluster.x-k8s.io/bootstrap-started";
const NS = "faults";

describe("faults", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  let bed: TestBed;
  let o: ReturnType<typeof objects>;
  const hosts: TestHost[] = [];
  const controllers: ControllerProcess[] = [];
  let hostIndex = 0;
  const takeHosts = (n: number) => {
    const out = hosts.slice(hostIndex, hostIndex + n);
    hostIndex += n;
    assert.equal(out.length, n, "enough hosts");
    return out;
  };

  before(async () => {
    bed = await startTestBed();
    await ensureNamespace(bed.clients, NS);
    o = objects(bed, NS);
    const key = await makeKeyPair("ed25519", "faults");
    for (let i = 0; i < 20 + 6 + 6 + 1 + 1; i++) hosts.push(await createHost(`flt-${i}`, [key.publicKey]));
    await o.apply([sshKeySecret(NS, "ssh-key", key)]);
    await makeCluster(bed, NS, "c1");
    // A control-plane Machine first: Cluster API reads worker Nodes only once the control plane
    // is initialized.
    const cp = hosts.pop() as TestHost;
    hosts.unshift(cp);
    hostIndex = 1;
    const ctl = await controller("setup");
    await makeMachine(
      bed,
      NS,
      "cp-0",
      "c1",
      { address: cp.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(bed),
      { controlPlane: true },
    );
    await allRunning(["cp-0"], 180_000);
    await ctl.stop();
  });
  after(async () => {
    for (const c of controllers) await c.stop().catch(() => {});
    await Promise.all(hosts.map((h) => destroyHost(h).catch(() => {})));
    await bed?.stop();
  });

  const controller = async (name: string, args: string[] = []) => {
    const c = new ControllerProcess(bed, NS, name, args);
    controllers.push(c);
    await c.start();
    return c;
  };
  const machinesAt = async (prefix: string, hs: TestHost[], bootstrap: string) => {
    await Promise.all(
      hs.map((h, i) =>
        makeMachine(bed, NS, `${prefix}-${i}`, "c1", { address: h.address, sshKeyRef: { name: "ssh-key" } }, bootstrap),
      ),
    );
    return hs.map((_, i) => `${prefix}-${i}`);
  };
  /** Every Machine Running (its Node registered by the bootstrap) and every RemoteMachine provisioned. */
  const allRunning = (names: string[], timeoutMs: number) =>
    waitFor(
      `${names.length} Machines Running`,
      async () => {
        const ms = await o.list("machines", "cluster.x-k8s.io");
        const rms = await o.list("remotemachines");
        const missing = names.filter(
          (n) =>
            !ms.some((m: Any) => m.metadata.name === n && m.status?.phase === "Running") ||
            !rms.some((r: Any) => r.metadata.name === n && r.status?.initialization?.provisioned === true),
        );
        if (missing.length === 0) return true;
        const why = missing.map((n) => {
          const m = ms.find((x: Any) => x.metadata.name === n);
          const r = rms.find((x: Any) => x.metadata.name === n);
          const ready = r?.status?.conditions?.find((c: Any) => c.type === "Ready");
          const node = m?.status?.conditions?.find((c: Any) => c.type === "NodeHealthy");
          return `${n}: Machine ${m?.status?.phase} (${node?.reason ?? "-"} ${node?.message ?? ""}), RemoteMachine ${ready?.reason ?? "-"} ${ready?.message ?? ""}`;
        });
        throw new Error(`not yet:\n  ${why.join("\n  ")}`);
      },
      { timeoutMs, intervalMs: 500 },
    );
  const runsOn = (hs: TestHost[]) => Promise.all(hs.map((h) => countLines(h, RUNS, "run")));
  const started = async (hs: TestHost[]) => (await runsOn(hs)).filter((n) => n > 0).length;

  it("SIGKILLed at random points during 20 provisionings, 5 times over: all provisioned, each bootstrap ran once", async () => {
    const ctl = await controller("kill");
    const hs = takeHosts(20);
    const names = await machinesAt("k", hs, testBootstrap(bed, { sleep: 3 }));
    const kills: number[] = [];
    const t0 = Date.now();
    const begun: number[] = [];
    for (let k = 0; k < 5; k++) {
      // Anywhere from connecting to mid-bootstrap (each bootstrap sleeps 3 s).
      await sleep(randomInt(300, 6000));
      kills.push(Date.now() - t0);
      begun.push(await started(hs));
      await ctl.kill();
      await sleep(randomInt(100, 1500));
      await ctl.start();
    }
    console.log(
      `# killed at ${kills.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s, with ${begun.join(", ")} of 20 bootstraps begun`,
    );
    await allRunning(names, 300_000);
    console.log(`# all 20 Running ${((Date.now() - t0) / 1000).toFixed(1)} s after the first Machine was created`);
    const runs = await runsOn(hs);
    assert.deepEqual(runs, Array(20).fill(1), `every bootstrap ran exactly once: ${JSON.stringify(runs)}`);
    await ctl.stop();
  });

  it("two replicas: the leader killed mid-work, the standby takes over within the lease, nothing runs twice", async () => {
    const le = [
      "--leader-elect=true",
      `--leader-election-namespace=${CONTROLLER_NAMESPACE}`,
      "--leader-election-id=faults",
      "--lease-duration=4",
      "--renew-deadline=3",
      "--retry-period=1",
    ];
    const lease = async () =>
      (await bed.clients.objects.read({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "faults", namespace: CONTROLLER_NAMESPACE },
      })) as Any;
    const a = await controller("leader-a", le);
    await waitFor("a leader", async () => (await lease()).spec?.holderIdentity?.endsWith(`_${a.child?.pid}`), {
      timeoutMs: 20_000,
    });
    const b = await controller("leader-b", le);
    const hs = takeHosts(6);
    const names = await machinesAt("l", hs, testBootstrap(bed, { sleep: 4 }));
    await waitFor("bootstraps under way", async () => (await started(hs)) >= 3, { timeoutMs: 60_000, intervalMs: 100 });
    const killedAt = Date.now();
    await a.kill();
    await waitFor("the standby to lead", async () => (await lease()).spec.holderIdentity.endsWith(`_${b.child?.pid}`), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const takeover = (Date.now() - killedAt) / 1000;
    console.log(
      `# standby took over ${takeover.toFixed(1)} s after the leader was killed mid-work (lease 4 s, retry 1 s)`,
    );
    assert.ok(takeover <= 4 + 1 + 2, `took ${takeover} s`);
    await allRunning(names, 180_000);
    assert.deepEqual(await runsOn(hs), Array(6).fill(1), "no work was done twice");
    await b.stop();
  });

  it("kube-apiserver restarted mid-work: watches recover and everything converges within 30 s of it returning", async () => {
    const ctl = await controller("apiserver");
    const hs = takeHosts(6);
    const [first, ...rest] = hs as [TestHost, ...TestHost[]];
    // Three machines are mid-bootstrap when the API server goes.
    const busy = await machinesAt("a", [first, ...rest.slice(0, 2)], testBootstrap(bed, { sleep: 3 }));
    await waitFor("bootstraps under way", async () => (await started(hs.slice(0, 3))) >= 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const { stoppedAt, readyAt } = await restartApiServer(bed.controlPlane, 5_000);
    // The machines caught mid-work converge first: that also shows Cluster API's caches are back.
    // (A Machine that Cluster API reconciles before its RemoteMachine cache has refilled is
    // requeued for 30 s by Cluster API itself, whatever the provider does; the new work below
    // would then measure Cluster API's recovery order, not the controller's.)
    await allRunning(busy, 120_000);
    // New work after the restart reaches the controller only through its (re-established) watches.
    const late = await machinesAt("b", rest.slice(2), testBootstrap(bed));
    await allRunning([...busy, ...late], 120_000);
    const converged = (Date.now() - readyAt) / 1000;
    console.log(
      `# converged ${converged.toFixed(1)} s after kube-apiserver was back (unreachable ${((readyAt - stoppedAt) / 1000).toFixed(1)} s: 3 s drain, 5 s down, its start)`,
    );
    assert.ok(converged <= 30, `took ${converged} s`);
    assert.deepEqual(await runsOn(hs), Array(6).fill(1), "each bootstrap ran once");
    await ctl.stop();
  });

  it("a host's network cut during its bootstrap and restored: the run is re-attached, not repeated", async () => {
    const ctl = await controller("netcut");
    const [h] = takeHosts(1) as [TestHost];
    const [name] = await machinesAt("n", [h], testBootstrap(bed, { sleep: 8 }));
    await waitFor("the bootstrap under way", async () => (await started([h])) === 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const startRecord = (await o.rm(name as string)).metadata.annotations?.[STARTED];
    assert.ok(startRecord, "the start was recorded before the link was cut");
    await setLink(h, false);
    await sleep(6_000);
    const during = o.condition(await o.rm(name as string), "Ready");
    await setLink(h, true);
    await allRunning([name as string], 120_000);
    console.log(`# while cut: Ready ${during?.status}/${during?.reason}`);
    assert.equal(await countLines(h, RUNS, "run"), 1, "the bootstrap ran once");
    // Re-attached, not started again: the start record is the one from before the cut, the
    // once-only gate on the machine was taken once, and the outcome is the run's own.
    const rm = await o.rm(name as string);
    assert.equal(rm.metadata.annotations?.[STARTED], startRecord, "the start record was not rewritten");
    assert.equal(
      (await hostExec(h, `cat /var/lib/capi-remote/${o.ns}.${name}*/progress`))
        .split("\n")
        .filter((l) => l === "started").length,
      1,
      "the gate was taken once",
    );
    assert.equal(rm.status.bootstrap.phase, "Succeeded");
    await ctl.stop();
  });
});
