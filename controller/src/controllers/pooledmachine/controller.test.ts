/**
 * The pool machine controller in milliseconds: the real PooledRemoteMachine and RemoteMachine
 * reconcilers, the real pool claims and task manager, over an in-memory API (kube/fake.ts) and a
 * scripted SSH host (ssh/scripted.ts). Claims are made and ended by the RemoteMachine
 * controller; what is asserted is what a person reads on the pool machine (phase, conditions,
 * Events) and on the RemoteMachine. The end-to-end suites (test/e2e/pools.test.ts, claims.test.ts)
 * prove the same against real parts.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { claimantName, PoolAnnotations, quarantineOf, RemoteAnnotations } from "@capi-remote/shared";
import { ApiError, R } from "../../kube/api.js";
import { FakeApi, type Obj } from "../../kube/fake.js";
import { PoolClaims } from "../../pool/claims.js";
import { StatusWriter } from "../../runtime/statuswriter.js";
import { type Rule, ScriptedDialer } from "../../ssh/scripted.js";
import type { TaskManager } from "../../tasks/taskmanager.js";
import type { HostTask } from "../context.js";
import { remoteMachineReconciler } from "../remotemachine/controller.js";
import { fakeCtx, fakeInformers, silentLog } from "../testing.js";
import { pooledMachineReconciler } from "./controller.js";
import { addPoolMachineIndexes } from "./watches.js";

const NS = "ns";
const b64 = (s: string) => Buffer.from(s).toString("base64");
/** Bootstrap data that writes a file, so a release has something to scrub. */
const DATA = "#cloud-config\nwrite_files:\n- path: /etc/pool-join-token\n  content: secret-token\nruncmd: [echo hi]\n";

type Cond = { type: string; status: string; reason: string; message?: string };
type View = Obj & {
  metadata: Obj["metadata"] & { annotations?: Record<string, string>; finalizers?: string[]; generation?: number };
  spec: Record<string, unknown>;
  status?: { phase?: string; machineRef?: { name: string }; conditions?: Cond[] };
};

const cond = (o: View | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const isProbe = (c: string) => c.startsWith("hostname; ");
const isStartAndFollow = (c: string) => c.includes("started") && c.includes("progress") && !isProbe(c);
const isKillRun = (c: string) => c.includes("alive");
const isScrub = (c: string) => c.includes("/etc/pool-join-token");
const RUN_LINES = ["started", "progress 1 1 runcmd[0]", "exit 0 0"];

const harnesses: { tasks: TaskManager<HostTask> }[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.tasks.shutdown(1000);
});

function harness(rules: Rule[]) {
  const api = new FakeApi();
  const dialer = new ScriptedDialer(rules);
  const inf = fakeInformers(api);
  addPoolMachineIndexes(inf.pooledRemoteMachines as never);
  const events: string[] = [];
  const queue = { add() {}, addRateLimited: () => 1000, forget() {}, depth: 0 };
  const pools = new PoolClaims(api as never, inf.pooledRemoteMachines as never, silentLog as never);
  const ctx = fakeCtx(api, dialer, {
    events: {
      emit: async (o: Obj, type: string, reason: string) =>
        void events.push(`${o.kind} ${o.metadata.name}: ${type} ${reason}`),
    },
    queue,
    pools,
    inf,
    // The controller's clock: a test moves it past a wait (cleanup retries) instead of sleeping.
    now: () => new Date(Date.now() + skew),
  });
  const { tasks } = ctx;
  let skew = 0;
  const writer = new StatusWriter(() => {}, { intervalMs: 0 });
  const rmOnce = remoteMachineReconciler(ctx as never, { writer, connectingHoldMs: 0 });
  const pmOnce = pooledMachineReconciler(ctx as never, queue);
  /** A pass; a conflict is retried once, as the queue would. */
  const retried = async (f: (k: string) => Promise<unknown>, key: string) => {
    try {
      return await f(key);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      return await f(key);
    }
  };
  const h = {
    api,
    dialer,
    tasks,
    events,
    pools,
    rmPass: (name: string) => retried(rmOnce, `${NS}/${name}`) as Promise<{ requeueAfterMs?: number } | undefined>,
    advance: (ms: number) => {
      skew += ms;
    },
    pmPass: (name: string) => retried(pmOnce, `${NS}/${name}`),
    rm: (name: string) => api.store(R.remoteMachines).get(`${NS}/${name}`) as View | undefined,
    pm: (name: string) => api.store(R.pooledRemoteMachines).get(`${NS}/${name}`) as View | undefined,
    /** Waits (bounded) until `done` holds, letting the tasks' I/O and timers run. */
    until: async (what: string, done: () => boolean) => {
      for (let i = 0; i < 5000 && !done(); i++) await new Promise((r) => setTimeout(r, 1));
      assert.ok(done(), `waited for ${what}`);
    },
    /** Edits a stored object as a person would (the next version, handlers told). */
    edit: (r: typeof R.pooledRemoteMachines, name: string, f: (o: View) => void) => {
      const o = structuredClone(api.store(r).get(`${NS}/${name}`)) as View;
      f(o);
      api.put(r, o);
    },
  };
  harnesses.push(h);
  return h;
}

type H = ReturnType<typeof harness>;

function cluster(h: H, data: boolean) {
  h.api.put(R.clusters, {
    metadata: { name: "c", namespace: NS },
    spec: {},
    status: { initialization: { infrastructureProvisioned: true } },
  });
  h.api.put(R.secrets, { metadata: { name: "key", namespace: NS }, data: { value: b64("PRIVATE KEY") } });
  if (data)
    h.api.put(R.secrets, {
      metadata: { name: "data", namespace: NS },
      data: { value: b64(DATA), format: b64("cloud-config") },
    });
}

/** A Machine `m-<name>` and its RemoteMachine `<name>` taking a machine from pool "p". */
function remoteMachine(h: H, name: string) {
  h.api.put(R.machines, {
    metadata: { name: `m-${name}`, namespace: NS, uid: `m-${name}-uid` },
    spec: {
      clusterName: "c",
      bootstrap: { dataSecretName: "data" },
      infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name },
    },
  });
  h.api.put(R.remoteMachines, {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteMachine",
    metadata: {
      name,
      namespace: NS,
      uid: `${name}-uid`,
      generation: 1,
      ownerReferences: [
        { apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Machine", name: `m-${name}`, uid: `m-${name}-uid` },
      ],
    },
    spec: { pool: "p" },
  });
}

function poolMachine(h: H, name: string, address: string, annotations: Record<string, string> = {}) {
  h.api.put(R.pooledRemoteMachines, {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "PooledRemoteMachine",
    metadata: { name, namespace: NS, uid: `${name}-uid`, generation: 1, annotations },
    spec: { pool: "p", machine: { address, sshKeyRef: { name: "key" } } },
  });
}

/** Marks the RemoteMachine deleted, as the API server does while our finalizer is on it. */
async function deleteRemoteMachine(h: H, name: string) {
  await h.api.delete(R.remoteMachines, NS, name);
  assert.ok(h.rm(name)?.metadata.deletionTimestamp, "the finalizer keeps it while it is cleaned up");
}

/** Provisions `name` from the pool over the scripted host (claim, bootstrap, provider ID). */
async function provision(h: H, name: string) {
  await h.rmPass(name);
  await h.until("the bootstrap to end", () => h.tasks.get(`${NS}/${name}`)?.running === false);
  await h.rmPass(name);
  assert.equal(cond(h.rm(name), "Ready")?.reason, "Provisioned");
}

/** Runs the deleted RemoteMachine's cleanup passes until its finalizer is gone. */
async function cleanUp(h: H, name: string) {
  for (let i = 0; i < 10 && h.rm(name)?.metadata.finalizers?.length; i++) {
    const r = await h.rmPass(name);
    const t = h.tasks.get(`${NS}/${name}`);
    if (t?.running) await h.until("the cleanup to end", () => h.tasks.get(`${NS}/${name}`)?.running === false);
    else if (r?.requeueAfterMs) h.advance(r.requeueAfterMs); // the wait before the next attempt
  }
  assert.deepEqual(h.rm(name)?.metadata.finalizers ?? [], [], "the finalizer goes once the pool machine is settled");
}

const hostRules = (scrub: Rule["reply"]): Rule[] => [
  { match: isProbe, reply: { lines: ["node-1", "none"] } },
  { match: isStartAndFollow, reply: { lines: RUN_LINES } },
  { match: isKillRun, reply: { lines: ["finished 0"] } },
  { match: isScrub, reply: scrub },
  { match: () => true, reply: { code: 0 } },
];

describe("PooledRemoteMachine reconciler (fake API, scripted host)", () => {
  it("claim: the holder is shown with its phase; a second RemoteMachine waits and is told how the pool stands", async () => {
    const h = harness([]);
    cluster(h, false);
    poolMachine(h, "pm-1", "10.0.0.9");
    remoteMachine(h, "rm");
    await h.rmPass("rm");
    assert.equal(claimantName(h.pm("pm-1") as never), "rm", "one compare-and-swap claim on the pool machine");
    assert.equal(h.rm("rm")?.spec.address, "10.0.0.9", "the connection fields are copied in");
    assert.match(cond(h.rm("rm"), "PoolMachineClaimed")?.message ?? "", /pool machine pm-1 \(10\.0\.0\.9\)/);
    await h.pmPass("pm-1");
    const pm = h.pm("pm-1");
    assert.equal(pm?.status?.phase, "Claimed");
    assert.equal(pm?.status?.machineRef?.name, "rm");
    assert.deepEqual(
      { ...cond(pm, "Claimed"), lastTransitionTime: undefined, observedGeneration: undefined },
      {
        type: "Claimed",
        status: "True",
        reason: "Claimed",
        message: "RemoteMachine rm (Claimed)",
        lastTransitionTime: undefined,
        observedGeneration: undefined,
      },
    );
    remoteMachine(h, "rm2");
    await h.rmPass("rm2");
    assert.equal(cond(h.rm("rm2"), "Ready")?.reason, "WaitingForPoolMachine");
    assert.match(cond(h.rm("rm2"), "Ready")?.message ?? "", /1 in total, 1 claimed, 0 cordoned, 0 quarantined/);
    assert.equal(claimantName(h.pm("pm-1") as never), "rm", "the holder keeps it");
    assert.equal(h.dialer.commands.length, 0, "a claim runs nothing on the machine");
  });

  it("release with scrub: the holder's files go, then the machine waits for its Machine's deletion and returns", async () => {
    const h = harness(hostRules({ code: 0 }));
    cluster(h, true);
    poolMachine(h, "pm-1", "10.0.0.9");
    remoteMachine(h, "rm");
    await provision(h, "rm");
    await h.pmPass("pm-1");
    assert.equal(h.pm("pm-1")?.status?.phase, "InUse");
    await deleteRemoteMachine(h, "rm");
    await h.pmPass("pm-1");
    assert.equal(h.pm("pm-1")?.status?.phase, "Cleaning", "shown cleaning while its holder is deleted");
    await cleanUp(h, "rm");
    const cmds = h.dialer.commands;
    const scrub = cmds.findIndex(isScrub);
    assert.ok(scrub > 0, "the file the holder's data wrote is removed on the host");
    assert.ok(
      cmds.slice(scrub + 1).some((c) => c.includes("rm -rf")),
      "before capi-remote's own state goes",
    );
    assert.ok(!cmds.slice(scrub).some(isStartAndFollow), "nothing is started after the scrub");
    await h.pmPass("pm-1");
    let pm = h.pm("pm-1");
    assert.equal(claimantName(pm as never), undefined, "the claim is ended");
    assert.equal(pm?.status?.phase, "Cleaning");
    assert.equal(cond(pm, "Claimed")?.reason, "WaitingForMachineDeletion");
    assert.ok(h.events.includes("PooledRemoteMachine pm-1: Normal PoolMachineReturned"));
    assert.ok(h.events.includes("RemoteMachine rm: Normal CleanupSucceeded"));
    h.api.remove(R.machines, NS, "m-rm");
    await h.pmPass("pm-1");
    await h.pmPass("pm-1");
    pm = h.pm("pm-1");
    assert.equal(pm?.status?.phase, "Available");
    assert.equal(cond(pm, "Claimed")?.reason, "Available");
    assert.equal(pm?.metadata.annotations?.[PoolAnnotations.ReturningAfter], undefined);
  });

  it("cordon: a claimed machine stays in use, then stays out of the pool once freed", async () => {
    const h = harness([]);
    cluster(h, false);
    poolMachine(h, "pm-1", "10.0.0.9");
    remoteMachine(h, "rm");
    await h.rmPass("rm");
    h.edit(R.pooledRemoteMachines, "pm-1", (o) => {
      o.spec.cordoned = true;
      o.metadata.generation = 2;
    });
    await h.pmPass("pm-1");
    let pm = h.pm("pm-1");
    assert.equal(pm?.status?.phase, "Claimed");
    assert.equal(cond(pm, "Cordoned")?.status, "True");
    assert.equal(cond(pm, "Cordoned")?.message, "stays in use until freed, then stays out of the pool");
    assert.ok(h.events.includes("PooledRemoteMachine pm-1: Normal Cordoned"));
    assert.equal(claimantName(pm as never), "rm", "cordoning does not take the machine away");
    // Freed (nothing ran on it, so nothing to clean) and its Machine gone: cordoned, not available.
    await deleteRemoteMachine(h, "rm");
    await cleanUp(h, "rm");
    h.api.remove(R.machines, NS, "m-rm");
    await h.pmPass("pm-1");
    await h.pmPass("pm-1");
    pm = h.pm("pm-1");
    assert.equal(pm?.status?.phase, "Cordoned");
    assert.equal(cond(pm, "Cordoned")?.message, "never handed out");
    remoteMachine(h, "rm2");
    await h.rmPass("rm2");
    assert.equal(claimantName(h.pm("pm-1") as never), undefined, "a cordoned machine is not handed out");
    assert.match(cond(h.rm("rm2"), "Ready")?.message ?? "", /1 in total, 0 claimed, 1 cordoned/);
  });

  it("a dropped connection during the scrub quarantines the machine; a release retries its cleanup", async () => {
    const h = harness(hostRules({ drop: true }));
    cluster(h, true);
    poolMachine(h, "pm-1", "10.0.0.9");
    remoteMachine(h, "rm");
    await provision(h, "rm");
    await deleteRemoteMachine(h, "rm");
    await cleanUp(h, "rm");
    assert.equal(h.dialer.commands.filter(isScrub).length, 3, "three cleanup attempts, each cut in the scrub");
    let pm = h.pm("pm-1");
    const q = quarantineOf(pm?.metadata.annotations);
    assert.equal(q?.reason, "CleanupFailed");
    assert.equal(q?.remoteMachine, "rm");
    assert.equal(claimantName(pm as never), undefined, "the quarantine ends the claim in the same write");
    await h.pmPass("pm-1");
    pm = h.pm("pm-1");
    assert.equal(pm?.status?.phase, "Quarantined");
    assert.equal(cond(pm, "Quarantined")?.status, "True");
    assert.match(
      cond(pm, "Quarantined")?.message ?? "",
      /cleanup gave up after 3 attempts.*fix the machine, then release it/,
    );
    assert.ok(h.events.includes("PooledRemoteMachine pm-1: Warning PoolMachineQuarantined"));
    assert.ok(h.events.includes("RemoteMachine rm: Warning CleanupFailed"));
    remoteMachine(h, "rm2");
    await h.rmPass("rm2");
    assert.equal(claimantName(h.pm("pm-1") as never), undefined, "a quarantined machine is not handed out");
    assert.match(cond(h.rm("rm2"), "Ready")?.message ?? "", /1 quarantined/);
    // The person fixed the machine and asks for its release: the cleanup is retried (no scrub:
    // the holder's data is not read again) and the machine comes back.
    h.edit(R.pooledRemoteMachines, "pm-1", (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [PoolAnnotations.Release]: "now" };
    });
    await h.pmPass("pm-1");
    assert.equal(cond(h.pm("pm-1"), "Released")?.reason, "CleanupRunning");
    await h.until("the retried cleanup", () => h.tasks.get(`prm:release:${NS}/pm-1`)?.running === false);
    await h.pmPass("pm-1");
    await h.pmPass("pm-1");
    pm = h.pm("pm-1");
    assert.equal(cond(pm, "Released")?.reason, "QuarantineLifted");
    assert.equal(quarantineOf(pm?.metadata.annotations), undefined);
    assert.equal(pm?.status?.phase, "Available");
    assert.equal(cond(pm, "Quarantined")?.status, "False");
  });

  it("a foreign holder keeps the machine; a claim whose holder is gone is said, and cleared on release", async () => {
    const h = harness([]);
    cluster(h, false);
    poolMachine(h, "pm-1", "10.0.0.9", {
      [PoolAnnotations.ClaimedBy]: "other",
      [PoolAnnotations.ClaimedByUID]: "other-uid",
    });
    remoteMachine(h, "rm");
    await h.rmPass("rm");
    assert.equal(claimantName(h.pm("pm-1") as never), "other", "another holder's claim is never taken over");
    assert.equal(cond(h.rm("rm"), "Ready")?.reason, "WaitingForPoolMachine");
    await h.pmPass("pm-1");
    let pm = h.pm("pm-1");
    assert.equal(cond(pm, "Claimed")?.reason, "ClaimantNotFound");
    assert.match(cond(pm, "Claimed")?.message ?? "", /RemoteMachine other no longer exists; release this machine/);
    assert.ok(h.events.includes("PooledRemoteMachine pm-1: Warning ClaimantNotFound"));
    h.edit(R.pooledRemoteMachines, "pm-1", (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, [PoolAnnotations.Release]: "now" };
    });
    await h.pmPass("pm-1");
    await h.pmPass("pm-1");
    pm = h.pm("pm-1");
    assert.equal(claimantName(pm as never), undefined);
    assert.equal(cond(pm, "Released")?.reason, "StaleClaimCleared");
    assert.equal(pm?.status?.phase, "Available");
    assert.equal(pm?.metadata.annotations?.[PoolAnnotations.Release], undefined, "the request is removed");
    await h.rmPass("rm");
    assert.equal(claimantName(h.pm("pm-1") as never), "rm", "now free, it is claimed");
  });

  it("a pool machine deleted while claimed: its holder keeps the copied fields and claims no other", async () => {
    const h = harness([]);
    cluster(h, false);
    poolMachine(h, "pm-1", "10.0.0.9");
    poolMachine(h, "pm-2", "10.0.0.10");
    remoteMachine(h, "rm");
    await h.rmPass("rm");
    const held = h.rm("rm")?.metadata.annotations?.[RemoteAnnotations.PoolMachine] as string;
    const other = held === "pm-1" ? "pm-2" : "pm-1";
    assert.equal(claimantName(h.pm(held) as never), "rm");
    const address = h.rm("rm")?.spec.address;
    h.api.remove(R.pooledRemoteMachines, NS, held);
    await h.pmPass(held);
    assert.equal(h.pm(held), undefined);
    assert.deepEqual(h.pools.claimedByName(NS, "rm"), [], "no claim of it is remembered");
    await h.rmPass("rm");
    const rm = h.rm("rm");
    assert.equal(cond(rm, "PoolMachineClaimed")?.message, `pool machine ${held} (no longer in the pool)`);
    assert.equal(rm?.spec.address, address, "the copied connection fields still work");
    assert.equal(claimantName(h.pm(other) as never), undefined, "no second machine is claimed");
    await h.pmPass(other);
    assert.equal(h.pm(other)?.status?.phase, "Available");
  });
});
