/**
 * Pools end to end (real API server, real Cluster API manager, real sshd hosts): a
 * MachineDeployment on a pool scales up, waits for and takes a new pool machine, scales down
 * onto cleaned machines and rolls over to a new template; cordon, release and quarantine; the
 * admission policy that locks claimed machines; a status wipe that changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, hostExec, readHostFile, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import {
  type Any,
  bootstrapSecret,
  ControllerProcess,
  INFRA,
  makeCluster,
  makeMachine,
  objects,
  poolTemplate,
  testBootstrap,
} from "./harness.js";

const RUNS = "/var/log/capi-remote-test-runs";
const CLEANED = "/var/log/capi-remote-test-cleanups";
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const RELEASE = "remote.infrastructure.cluster.x-k8s.io/release";
const QUARANTINED = "remote.infrastructure.cluster.x-k8s.io/quarantined";

describe("machine pools", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("pools");
  const hosts: TestHost[] = [];
  let cp: TestHost | undefined;
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  let publicKey = "";

  const prms = () => o.list("pooledremotemachines");
  const rms = () => o.list("remotemachines");
  const machines = async (md?: string) =>
    (await o.list("machines", "cluster.x-k8s.io")).filter(
      (m) => !md || m.metadata.labels?.["cluster.x-k8s.io/deployment-name"] === md,
    );
  const prm = (name: string) => o.getInfra("pooledremotemachines", name);
  const patchPrm = (name: string, body: Any) => o.patchInfra("pooledremotemachines", name, body);
  const scale = (replicas: number) => o.patchCapi("machinedeployments", "md", { spec: { replicas } });

  /** A pool machine for a test host; cleanup commands leave a line on the host. */
  const poolMachine = (name: string, h: TestHost, extra: Any = {}) => ({
    apiVersion: `${INFRA}/v1beta2`,
    kind: "PooledRemoteMachine",
    metadata: { name, labels: { "example.com/rack": "r1" } },
    spec: {
      pool: "workers",
      machine: {
        address: h.address,
        sshKeyRef: { name: "ssh-key" },
        cleanUpCommands: [
          `echo "cleaned $(date +%s%N)" >> ${CLEANED}`,
          "rm -f /run/cluster-api/bootstrap-success.complete",
        ],
        ...extra,
      },
    },
  });

  const template = (name: string) => poolTemplate(name, "workers");

  const deployment = (replicas: number, tmpl: string) => ({
    apiVersion: "cluster.x-k8s.io/v1beta2",
    kind: "MachineDeployment",
    metadata: { name: "md" },
    spec: {
      clusterName: "c1",
      replicas,
      selector: { matchLabels: { pool: "workers" } },
      template: {
        metadata: { labels: { pool: "workers" } },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: "md-bootstrap" },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: tmpl },
        },
      },
    },
  });

  /** Pool machines by phase, from the API server. */
  const phases = async () => {
    const out: Record<string, string> = {};
    for (const p of await prms()) out[p.metadata.name] = p.status?.phase ?? "";
    return out;
  };
  const waitPhases = (what: string, pred: (p: Record<string, string>) => boolean, timeoutMs = 180_000) =>
    waitFor(
      what,
      async () => {
        const p = await phases();
        if (pred(p)) return p;
        throw new Error(`phases now ${JSON.stringify(p)}`);
      },
      { timeoutMs, intervalMs: 250 },
    );
  const count = (p: Record<string, string>, phase: string) => Object.values(p).filter((x) => x === phase).length;

  /** Machines of the MachineDeployment that are Running with a node. */
  const running = async () =>
    (await machines("md")).filter(
      (m) => m.status?.phase === "Running" && m.status?.nodeRef && !m.metadata.deletionTimestamp,
    );

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    publicKey = key.publicKey;
    const made = await Promise.all(["pool-a", "pool-b", "pool-c", "pool-d"].map((n) => createHost(n, [publicKey])));
    hosts.push(...made);
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      bootstrapSecret("md-bootstrap", "c1", testBootstrap(t.bed)),
      ...made.map((h, i) => poolMachine(`pm-${i}`, h)),
      template("workers-v1"),
    ]);
    await makeCluster(t.bed, t.ns, "c1");
    // One control plane machine outside the pool: Cluster API waits for an initialized control
    // plane before it reads Nodes (and so before worker Machines become Available).
    const cpHost = await createHost("pool-cp", [publicKey]);
    cp = cpHost;
    await makeMachine(
      t.bed,
      t.ns,
      "cp-0",
      "c1",
      { address: cpHost.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed),
      { controlPlane: true },
    );
    ctl = new ControllerProcess(t.bed, t.ns, "pools");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    await Promise.all([...hosts, ...(cp ? [cp] : [])].map((h) => destroyHost(h)));
  });

  it("pool machines join with their facts and show Available; the template counts them", async () => {
    await waitPhases("4 pool machines Available with facts", (p) => count(p, "Available") === 4);
    const p0 = await waitFor(
      "facts of pm-0",
      async () => {
        const p = await prm("pm-0");
        if (p.status?.facts?.cpus) return p;
        throw new Error(JSON.stringify(p.status));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(p0.status.facts.hostname, "pool-a");
    assert.equal(p0.status.facts.operatingSystem, "linux");
    assert.match(p0.status.facts.architecture, /^(amd64|arm64)$/);
    assert.match(p0.status.facts.memory, /^\d+Ki$/);
    assert.ok(p0.status.hostKey?.fingerprint?.startsWith("SHA256:"), "host key recorded on first use");
    const tmpl = await waitFor(
      "template status",
      async () => {
        const x = await o.getInfra("remotemachinetemplates", "workers-v1");
        if (x.status?.pool?.total === 4 && x.status?.pool?.available === 4 && x.status?.capacity) return x;
        throw new Error(JSON.stringify(x.status));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // The test hosts share this machine's kernel, so they are alike: capacity is published.
    assert.equal(tmpl.status.capacity.cpu, String(p0.status.facts.cpus));
    assert.equal(tmpl.status.nodeInfo.operatingSystem, "linux");
  });

  it("a MachineDeployment of 3 on a pool of 4 becomes Running; labels travel to the Machines", async () => {
    await o.apply([deployment(3, "workers-v1")]);
    await waitFor(
      "3 Running machines",
      async () => {
        const r = await running();
        if (r.length === 3) return r;
        throw new Error(`${r.length} running`);
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    const p = await waitPhases("3 InUse, 1 Available", (x) => count(x, "InUse") === 3 && count(x, "Available") === 1);
    assert.equal(Object.keys(p).length, 4);
    const r = (await rms()).filter((x) => x.spec.pool);
    const held = new Set(r.map((x) => x.metadata.annotations?.["remote.infrastructure.cluster.x-k8s.io/pool-machine"]));
    assert.equal(held.size, 3, "three different pool machines");
    for (const m of await machines("md")) assert.equal(m.metadata.labels?.["example.com/rack"], "r1");
    // Exactly once on each held machine (pm-<i> is hosts[i]), never on the one left in the pool.
    for (const [i, h] of hosts.slice(0, 4).entries())
      assert.equal(
        await countLines(h, RUNS, "run"),
        held.has(`pm-${i}`) ? 1 : 0,
        `${h.name} (pm-${i}, ${held.has(`pm-${i}`) ? "held" : "free"}) ran ${held.has(`pm-${i}`) ? "exactly once" : "nothing"}`,
      );
  });

  it("scaled to 5, one waits with WaitingForPoolMachine and proceeds as soon as a machine is added", async () => {
    await scale(5);
    const waiting = await waitFor(
      "a RemoteMachine waiting for the pool",
      async () => {
        const w = (await rms()).find((x) =>
          x.status?.conditions?.some(
            (c: Any) => c.type === "PoolMachineClaimed" && c.reason === "WaitingForPoolMachine",
          ),
        );
        if (w) return w;
        throw new Error("none waiting yet");
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const cond = waiting.status.conditions.find((c: Any) => c.type === "PoolMachineClaimed");
    assert.match(cond.message, /no free machine in pool workers: 4 in total, 4 claimed/);
    const h = await createHost("pool-e", [publicKey]);
    hosts.push(h);
    const added = Date.now();
    await o.apply([poolMachine("pm-4", h)]);
    await waitFor(
      "the waiting RemoteMachine claims pm-4",
      async () => {
        const p = await prm("pm-4");
        if (p.metadata.annotations?.[CLAIMED_BY] === waiting.metadata.name) return p;
        throw new Error(JSON.stringify(p.metadata.annotations));
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const ms = Date.now() - added;
    console.log(`# claimed ${ms} ms after the pool machine was added`);
    assert.ok(ms < 5000, `claimed ${ms} ms after the pool machine appeared`);
    await waitFor(
      "5 Running machines",
      async () => {
        const r = await running();
        if (r.length === 5) return r;
        throw new Error(`${r.length} running`);
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
  });

  it("a cordoned free machine is never taken; a cordoned machine in use is not returned after scale-down", async () => {
    // Scale down to 2: three machines are cleaned and return.
    await scale(2);
    const p = await waitPhases(
      "2 InUse, 3 Available",
      (x) => count(x, "InUse") === 2 && count(x, "Available") === 3,
      300_000,
    );
    for (const [name, phase] of Object.entries(p)) {
      if (phase !== "Available") continue;
      const idx = Number(name.split("-")[1]);
      const h = hosts[idx]!;
      assert.ok((await countLines(h, CLEANED, "cleaned")) >= 1, `${h.name} was cleaned up`);
      assert.equal(await readHostFile(h, "/run/cluster-api/bootstrap-success.complete"), undefined);
    }
    // Cordon one free machine and one in use.
    const free = Object.keys(p).filter((n) => p[n] === "Available");
    const inUse = Object.keys(p).filter((n) => p[n] === "InUse");
    await patchPrm(free[0]!, { spec: { cordoned: true } });
    await patchPrm(inUse[0]!, { spec: { cordoned: true } });
    await waitPhases("cordoned free machine shows Cordoned", (x) => x[free[0]!] === "Cordoned");
    // Scale to 4: the two other free machines are taken, never the cordoned one.
    await scale(4);
    await waitPhases("4 InUse", (x) => count(x, "InUse") === 4, 300_000);
    assert.equal((await phases())[free[0]!], "Cordoned");
    const waiting = (await rms()).filter((x) => !x.spec.address);
    assert.equal(waiting.length, 0);
    // Scale down by one, choosing the cordoned machine in use (Cluster API's delete-machine
    // annotation): it is cleaned and then stays out of the pool.
    const idx = Number(inUse[0]!.split("-")[1]);
    const cleanedBefore = await countLines(hosts[idx]!, CLEANED, "cleaned");
    await markForDeletion(inUse[0]!);
    await scale(3);
    await waitPhases(
      "the cordoned machine freed and kept out",
      (x) => x[inUse[0]!] === "Cordoned" && count(x, "InUse") === 3,
      300_000,
    );
    assert.equal(await countLines(hosts[idx]!, CLEANED, "cleaned"), cleanedBefore + 1, "it was cleaned once");
    assert.equal((await prm(inUse[0]!)).metadata.annotations?.[CLAIMED_BY], undefined, "claim cleared");
    // Uncordon both: they are Available again.
    await patchPrm(free[0]!, { spec: { cordoned: false } });
    await patchPrm(inUse[0]!, { spec: { cordoned: false } });
    await waitPhases("both Available", (x) => x[free[0]!] === "Available" && x[inUse[0]!] === "Available");
  });

  it("editing a claimed machine's address is rejected with a message; a free one may change", async () => {
    const p = await phases();
    const inUse = Object.keys(p).find((n) => p[n] === "InUse")!;
    const err = await patchPrm(inUse, { spec: { machine: { address: "198.18.255.254" } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err, "the edit was refused");
    assert.match((err as Error).message, /cannot change while RemoteMachine \S+ holds it/);
    const free = Object.keys(p).find((n) => p[n] === "Available")!;
    await patchPrm(free, { spec: { machine: { port: 22 } } });
  });

  it("a template change rolls the MachineDeployment over onto pool machines", async () => {
    await o.apply([template("workers-v2")]);
    await o.patchCapi("machinedeployments", "md", {
      spec: {
        replicas: 2,
        template: {
          spec: { infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "workers-v2" } },
        },
      },
    });
    await waitFor(
      "2 Running machines from workers-v2, none from v1",
      async () => {
        const ms = await machines("md");
        const r = await running();
        const fromV2 = await Promise.all(
          r.map(async (m) => {
            const rm = await o.rm(m.spec.infrastructureRef.name);
            return rm.metadata.annotations?.["cluster.x-k8s.io/cloned-from-name"] === "workers-v2";
          }),
        );
        if (ms.length === 2 && r.length === 2 && fromV2.every(Boolean)) return r;
        throw new Error(`${ms.length} machines, ${r.length} running, from v2: ${fromV2}`);
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    await waitPhases("2 InUse, rest Available", (x) => count(x, "InUse") === 2 && count(x, "Available") === 3, 300_000);
  });

  it("release: a stale claim is cleared, a machine in use is retired through Cluster API", async () => {
    // A claim left by a RemoteMachine that no longer exists.
    const h = await createHost("pool-f", [publicKey]);
    hosts.push(h);
    await o.apply([
      { ...poolMachine("pm-stale", h), metadata: { name: "pm-stale", annotations: { [CLAIMED_BY]: "gone" } } },
    ]);
    await waitFor(
      "pm-stale reports its claimant missing",
      async () => {
        const p = await prm("pm-stale");
        const c = p.status?.conditions?.find((x: Any) => x.type === "Claimed");
        if (c?.reason === "ClaimantNotFound" && p.status.phase === "Claimed") return p;
        throw new Error(JSON.stringify(p.status));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await patchPrm("pm-stale", { metadata: { annotations: { [RELEASE]: "now" } } });
    const released = await waitFor(
      "pm-stale Available",
      async () => {
        const p = await prm("pm-stale");
        if (p.status?.phase === "Available" && !p.metadata.annotations?.[RELEASE]) return p;
        throw new Error(JSON.stringify(p.status));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(released.metadata.annotations?.[CLAIMED_BY], undefined);
    const ev = await o.events("pm-stale");
    assert.ok(
      ev.some((e) => e.reason === "StaleClaimCleared"),
      "an Event says what happened",
    );

    // Release a machine in use: its Machine is deleted, the MachineDeployment replaces it, and
    // the machine comes back cleaned.
    const p = await phases();
    const inUse = Object.keys(p).find((n) => p[n] === "InUse")!;
    const holder = (await prm(inUse)).metadata.annotations[CLAIMED_BY];
    const machineName = (await o.rm(holder)).metadata.ownerReferences.find((x: Any) => x.kind === "Machine").name;
    await patchPrm(inUse, { metadata: { annotations: { [RELEASE]: "now" } } });
    await waitFor(
      "its Machine is deleted",
      async () => {
        if (!(await o.machineOrUndefined(machineName))) return true;
        throw new Error("still there");
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    await waitFor(
      `${inUse} back (Available or claimed by the replacement)`,
      async () => {
        const x = await prm(inUse);
        if (x.metadata.annotations?.[CLAIMED_BY] !== holder && x.status?.phase !== "Cleaning") return x;
        throw new Error(JSON.stringify(x.status?.phase));
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    const ev2 = await o.events(inUse);
    assert.ok(
      ev2.some((e) => e.reason === "MachineRetired"),
      "an Event names the retired Machine",
    );
    await waitFor(
      "2 Running machines again",
      async () => {
        const r = await running();
        if (r.length === 2) return r;
        throw new Error(`${r.length} running`);
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
  });

  it("a failed cleanup quarantines the machine; released after the fix, it returns", async () => {
    // Break one in-use host so that its cleanup fails: the cleanup appends to a log file, and
    // a directory now stands where that file was.
    const p = await phases();
    const victim = Object.keys(p).find((n) => p[n] === "InUse")!;
    const idx = victim === "pm-stale" ? 5 : Number(victim.split("-")[1]);
    const h = hosts[idx]!;
    await hostExec(h, `rm -f ${CLEANED} && mkdir -p ${CLEANED}`);
    await markForDeletion(victim);
    await scale(1);
    const q = await waitFor(
      `${victim} quarantined`,
      async () => {
        const x = await prm(victim);
        if (x.status?.phase === "Quarantined") return x;
        throw new Error(JSON.stringify(x.status?.phase));
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    assert.ok(q.metadata.annotations[QUARANTINED]);
    assert.match(
      q.status.conditions.find((c: Any) => c.type === "Quarantined").message,
      /cleanup gave up after 3 attempts/,
    );
    // A scale-up does not take it.
    await scale(2);
    await waitFor(
      "2 running",
      async () => ((await running()).length === 2 ? true : Promise.reject(new Error("not yet"))),
      {
        timeoutMs: 300_000,
        intervalMs: 500,
      },
    );
    assert.equal((await prm(victim)).status.phase, "Quarantined");
    // Release without the fix: still quarantined, with a Warning.
    await patchPrm(victim, { metadata: { annotations: { [RELEASE]: "1" } } });
    await waitFor(
      "release fails",
      async () => {
        const x = await prm(victim);
        const c = x.status?.conditions?.find((y: Any) => y.type === "Released");
        if (c?.reason === "ReleaseFailed" && !x.metadata.annotations?.[RELEASE]) return x;
        throw new Error(JSON.stringify(c));
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    assert.equal((await prm(victim)).status.phase, "Quarantined");
    // Fix the host, release again: the cleanup is retried, passes, and the machine is back.
    await hostExec(h, `rmdir ${CLEANED}`);
    await patchPrm(victim, { metadata: { annotations: { [RELEASE]: "2" } } });
    await waitFor(
      `${victim} Available`,
      async () => {
        const x = await prm(victim);
        if (x.status?.phase === "Available") return x;
        throw new Error(JSON.stringify(x.status?.phase));
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
  });

  /** Makes Cluster API delete this pool machine's Machine first on the next scale-down. */
  async function markForDeletion(poolMachine: string) {
    const holder = (await prm(poolMachine)).metadata.annotations[CLAIMED_BY];
    const owner = (await o.rm(holder)).metadata.ownerReferences.find((x: Any) => x.kind === "Machine").name;
    await o.patchCapi("machines", owner, { metadata: { annotations: { "cluster.x-k8s.io/delete-machine": "yes" } } });
  }

  it("wiping every status and restarting the controller brings back the same assignments, nothing re-run", async () => {
    await waitFor(
      "2 running",
      async () => ((await running()).length === 2 ? true : Promise.reject(new Error("not yet"))),
      {
        timeoutMs: 300_000,
        intervalMs: 500,
      },
    );
    const before = new Map((await prms()).map((p) => [p.metadata.name, p.metadata.annotations?.[CLAIMED_BY] ?? ""]));
    const runsBefore = await Promise.all(hosts.map((h) => countLines(h, RUNS, "run")));
    await ctl.stop();
    for (const p of await prms()) await o.wipeStatus("pooledremotemachines", p.metadata.name);
    for (const r of await rms()) await o.wipeStatus("remotemachines", r.metadata.name);
    assert.ok(
      (await prms()).every((p) => !p.status?.phase),
      "statuses wiped",
    );
    await ctl.start();
    await waitPhases("2 InUse again", (x) => count(x, "InUse") === 2, 60_000);
    for (const r of await rms()) await o.waitProvisioned(r.metadata.name);
    const afterMap = new Map((await prms()).map((p) => [p.metadata.name, p.metadata.annotations?.[CLAIMED_BY] ?? ""]));
    assert.deepEqual([...afterMap], [...before], "same assignments");
    for (const p of await prms()) {
      if (p.metadata.annotations?.[CLAIMED_BY]) {
        assert.equal(p.status.reserved, true);
        assert.equal(p.status.machineRef.name, p.metadata.annotations[CLAIMED_BY]);
      }
    }
    const runsAfter = await Promise.all(hosts.map((h) => countLines(h, RUNS, "run")));
    assert.deepEqual(runsAfter, runsBefore, "no bootstrap ran again");
  });
});
