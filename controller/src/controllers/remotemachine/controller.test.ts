/**
 * The RemoteMachine reconciler in milliseconds: the real controller, phases, task manager and
 * status-write policy over an in-memory API (merge and JSON patches, resourceVersions, 409 and
 * 422 as the API server answers them) and a scripted SSH host (ssh/scripted.ts). What it proves
 * here is the order of decisions; the end-to-end suites prove the same against real parts.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { REMOTE_MACHINE_FINALIZER, RemoteAnnotations } from "@capi-remote/shared";
import { stateDirFor } from "../../host/protocol.js";
import { ApiError, R } from "../../kube/api.js";
import { FakeApi, type Obj } from "../../kube/fake.js";
import { StatusWriter } from "../../runtime/statuswriter.js";
import type { WordLimits } from "../../security/wordbudget.js";
import { type Rule, ScriptedDialer } from "../../ssh/scripted.js";
import type { TaskManager } from "../../tasks/taskmanager.js";
import type { HostTask } from "../context.js";
import { fakeCtx, fakeInformers, fakeSecrets } from "../testing.js";
import { remoteMachineReconciler } from "./controller.js";
import { b64, NS, putMachineObjects } from "./testobjects.js";

/** One run's progress as a real host's start-and-follow prints it. */
const RUN_LINES = ["started", "progress 1 1 runcmd[0]", "exit 0 0"];

function harness(rules: Rule[], o: { provisionJobs?: boolean; wordLimits?: WordLimits } = {}) {
  const api = new FakeApi();
  const dialer = new ScriptedDialer(rules);
  const notified: string[] = [];
  const inf: Partial<ReturnType<typeof fakeInformers>> = fakeInformers(api);
  if (o.provisionJobs === false) delete inf.jobs;
  const events: string[] = [];
  const ctx = fakeCtx(api, dialer, {
    notify: (k: string) => notified.push(k),
    events: { emit: async (_o: unknown, _t: string, reason: string) => void events.push(reason) },
    inf,
    secrets: fakeSecrets(api, undefined, o.wordLimits ? { wordLimits: o.wordLimits } : {}),
  });
  const { tasks } = ctx;
  // Every write at once (no coalescing): the test reads each decision's status.
  const writer = new StatusWriter(() => {}, { intervalMs: 0 });
  const reconcileOnce = remoteMachineReconciler(ctx as never, { writer, connectingHoldMs: 0 });
  /** A pass; a conflict (the cache moved under our own newer write) is retried, as the queue does. */
  const reconcile = async (key: string) => {
    try {
      return await reconcileOnce(key);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      conflicts++;
      return await reconcileOnce(key);
    }
  };
  let conflicts = 0;
  const rm = () =>
    api.store(R.remoteMachines).get(`${NS}/rm`) as Obj & {
      spec: { providerID?: string };
      status?: { initialization?: { provisioned?: boolean }; conditions?: { type: string; reason: string }[] };
    };
  /** Waits (bounded) until `done` holds, letting the task's I/O and timers run. */
  const until = async (what: string, done: () => boolean) => {
    for (let i = 0; i < 5000 && !done(); i++) await new Promise((r) => setTimeout(r, 1));
    assert.ok(done(), `waited for ${what}`);
  };
  const h = { api, dialer, tasks, events, reconcile, rm, until, notified, conflicts: () => conflicts };
  harnesses.push(h);
  return h;
}

const isProbe = (c: string) => c.startsWith("hostname; ");
const isStartAndFollow = (c: string) => c.includes("started") && c.includes("progress") && !isProbe(c);
const ready = (o: { status?: { conditions?: { type: string; reason: string }[] } }) =>
  o.status?.conditions?.find((c) => c.type === "Ready")?.reason;

const harnesses: { tasks: TaskManager<HostTask> }[] = [];
afterEach(async () => {
  // Tasks a failed assertion left running end here, so no timer keeps the process alive.
  for (const h of harnesses.splice(0)) await h.tasks.shutdown(1000);
});

describe("RemoteMachine reconciler (fake API, scripted host)", () => {
  it("provisions in phase order: start record with the finalizer before the run, then provider ID and status", async () => {
    let recordedBeforeRun: boolean | undefined;
    const h = harness([
      { match: isProbe, reply: { lines: ["node-1", "none"] } },
      {
        match: isStartAndFollow,
        reply: () => {
          // Answered only after the task's stdin ends, which waits for the start record.
          const o = h.rm();
          recordedBeforeRun =
            !!(o.metadata.annotations as Record<string, string> | undefined)?.[RemoteAnnotations.BootstrapStarted] &&
            (o.metadata.finalizers as string[] | undefined)?.includes(REMOTE_MACHINE_FINALIZER) === true;
          return { lines: RUN_LINES };
        },
      },
    ]);
    putMachineObjects(h.api);
    await h.reconcile(`${NS}/rm`);
    assert.equal(ready(h.rm()), "BootstrapRunning", "the first pass starts the bootstrap and says so");
    await h.until("the bootstrap to end", () => h.tasks.get(`${NS}/rm`)?.running === false);
    assert.equal(recordedBeforeRun, true, "the run began only after its start record (with the finalizer)");
    await h.reconcile(`${NS}/rm`);
    const o = h.rm();
    assert.equal(o.spec.providerID, "remote-machine://10.0.0.1:22");
    assert.equal(o.status?.initialization?.provisioned, true);
    assert.equal(ready(o), "Provisioned");
    assert.equal(
      o.status?.conditions?.find((c) => c.type === "NodeProviderIDSet")?.reason,
      "WaitingForNode",
      "the node phase ran in the same pass",
    );
    assert.deepEqual(
      h.dialer.commands.map((c) => (isProbe(c) ? "probe" : isStartAndFollow(c) ? "start" : c)),
      ["probe", "start"],
      "one probe, one start, nothing else on the host",
    );
    assert.deepEqual(h.events, ["BootstrapSucceeded"]);
    // Writes on the object besides status: the start record (one JSON patch carrying the
    // finalizer) and the provider ID.
    assert.deepEqual(
      h.api.writes.filter((w) => !w.includes("status")),
      ["json remotemachines", "merge remotemachines"],
    );
  });

  it("with Jobs turned off (--provision-jobs=false), a provisionJob machine is refused with a condition and an Event; nothing is created", async () => {
    const provisionJob = {
      jobSpecTemplate: { spec: { template: { spec: { containers: [{ name: "p", image: "x" }] } } } },
    };
    const on = harness([]);
    putMachineObjects(on.api, { spec: { provisionJob } });
    await on.reconcile(`${NS}/rm`);
    assert.deepEqual(
      on.api.writes.filter((w) => w.startsWith("create")),
      ["create secrets", "create jobs"],
      "with Jobs on, the same machine gets its Job",
    );
    const off = harness([], { provisionJobs: false });
    putMachineObjects(off.api, { spec: { provisionJob } });
    await off.reconcile(`${NS}/rm`);
    const c = off.rm().status?.conditions?.find((x) => x.type === "BootstrapExecSucceeded") as
      | { reason: string; message: string }
      | undefined;
    assert.equal(c?.reason, "ProvisionJobRefused");
    assert.match(c?.message ?? "", /^spec\.provisionJob: .*--provision-jobs=false/);
    assert.equal(ready(off.rm()), "ProvisionJobRefused");
    assert.deepEqual(off.events, ["ProvisionJobRefused"]);
    assert.deepEqual(
      off.api.writes.filter((w) => w.startsWith("create")),
      [],
    );
    assert.equal(off.dialer.dials, 0);
  });

  it("bootstrap data whose words weigh more than the limit is not read: a condition names the Secret and the limit, with an Event; nothing is dialled", async () => {
    const h = harness([], { wordLimits: { perSecret: 64 * 1024, total: 2 ** 20, namespaceShare: 1 } });
    putMachineObjects(h.api);
    const words = Array.from({ length: 1000 }, (_, i) => `token${String(i).padStart(10, "0")}`).join(" ");
    h.api.put(R.secrets, {
      metadata: { name: "data", namespace: NS },
      data: { value: b64(`#cloud-config\nruncmd: [echo ${words}]\n`) },
    });
    await h.reconcile(`${NS}/rm`);
    const ready = h.rm().status?.conditions?.find((c) => c.type === "Ready") as unknown as {
      reason: string;
      message: string;
    };
    assert.equal(ready.reason, "SecretNotRead");
    assert.match(
      ready.message,
      /^bootstrap data Secret data is not used \(capi-remote did not read it: its words .* would take 0\.1 MiB, over the 0\.1 MiB it keeps of one Secret\)$/,
    );
    assert.deepEqual(h.events, ["SecretNotRead"]);
    assert.equal(h.dialer.dials, 0, "no connection: the data is not there to run");
  });

  it("a pass that stops early leaves the later phases out: no Machine yet, nothing dialled", async () => {
    const h = harness([]);
    putMachineObjects(h.api);
    h.api.store(R.machines).clear();
    await h.reconcile(`${NS}/rm`);
    assert.equal(ready(h.rm()), "WaitingForMachineOwner");
    assert.equal(h.dialer.dials, 0);
    assert.equal(h.rm().metadata.finalizers, undefined);
  });

  it("deleted while its bootstrap runs: the run is stopped, cleanup runs on the host, then the finalizer goes", async () => {
    let releaseRun = () => {};
    const runHeld = new Promise<void>((r) => {
      releaseRun = r;
    });
    const cleanupRan: string[] = [];
    const h = harness([
      { match: isProbe, reply: { lines: ["node-1", "none"] } },
      { match: isStartAndFollow, reply: { lines: RUN_LINES, until: runHeld } },
      // The cleanup stops the run by its record first (kill-run), then runs its commands.
      {
        match: (c) => c.includes("alive"),
        reply: () => {
          cleanupRan.push("kill-run");
          return { lines: ["killed 1"] };
        },
      },
      {
        match: () => true,
        reply: (c) => {
          cleanupRan.push(c.includes(`rm -rf '\\''${stateDirFor(NS, "rm")}'`) ? "rm state" : "command");
          return { code: 0 };
        },
      },
    ]);
    putMachineObjects(h.api);
    await h.reconcile(`${NS}/rm`);
    await h.until(
      "the start record",
      () => !!(h.rm().metadata.annotations as Record<string, string> | undefined)?.[RemoteAnnotations.BootstrapStarted],
    );
    assert.equal(h.tasks.get(`${NS}/rm`)?.running, true);
    const cur = h.rm();
    h.api.put(R.remoteMachines, { ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date().toISOString() } });
    await h.reconcile(`${NS}/rm`);
    assert.equal(ready(h.rm()), "Deleting");
    assert.equal(h.tasks.get(`${NS}/rm`)?.kind, "cleanup", "the bootstrap task was cancelled; the cleanup runs");
    await h.until("the cleanup to end", () => h.tasks.get(`${NS}/rm`)?.running === false);
    await h.reconcile(`${NS}/rm`);
    assert.deepEqual(h.rm().metadata.finalizers ?? [], [], "our finalizer is removed after the cleanup");
    assert.equal(cleanupRan[0], "kill-run", "the run is stopped before any cleanup command");
    assert.equal(cleanupRan.at(-1), "rm state", "capi-remote's state on the machine goes last");
    assert.ok(cleanupRan.includes("command"), "the cleanup commands ran");
    assert.ok(h.events.includes("CleanupSucceeded"));
    releaseRun();
  });
});
