/**
 * Retry pacing survives a controller restart: the bootstrap's retry gate and backoff, and the
 * cleanup's attempts, are kept on the object (retries.ts), so a new controller over the same API
 * goes on where the last one stopped. A restart here is what it is in a cluster: a new controller
 * instance (new memory, task manager and queue) over the same API server.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { REMOTE_MACHINE_FINALIZER, RemoteAnnotations } from "@capi-remote/shared";
import { ApiError, R } from "../../kube/api.js";
import { FakeApi, type Obj } from "../../kube/fake.js";
import { WorkQueue } from "../../runtime/queue.js";
import { StatusWriter } from "../../runtime/statuswriter.js";
import { SSHError } from "../../ssh/executor.js";
import { type Rule, ScriptedDialer } from "../../ssh/scripted.js";
import { fakeCtx } from "../testing.js";
import { remoteMachineReconciler } from "./controller.js";
import { readRetry } from "./retries.js";
import { b64, NS, putMachineObjects } from "./testobjects.js";

const KEY = `${NS}/rm`;
const isProbe = (c: string) => c.startsWith("hostname; ");
const isStartAndFollow = (c: string) => c.includes("started") && c.includes("progress") && !isProbe(c);

type View = Obj & {
  metadata: Obj["metadata"] & { annotations?: Record<string, string>; finalizers?: string[]; generation?: number };
  spec: { providerID?: string } & Record<string, unknown>;
  status?: { conditions?: { type: string; reason: string; message?: string }[] };
};

const stopped: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stopped.splice(0)) await stop();
});

/** One controller process over `api`: its own memory, tasks, queue and clock offset. */
function controller(api: FakeApi, dialer: ScriptedDialer, clock: { skew: number }) {
  const queue = new WorkQueue(async () => undefined, { concurrency: 1, baseDelayMs: 500, maxDelayMs: 300_000 });
  /** The backoff delays the bootstrap asked the queue for. */
  const delays: number[] = [];
  const limited = queue.addRateLimited.bind(queue);
  queue.addRateLimited = (key, cap, prior) => {
    const ms = limited(key, cap, prior);
    delays.push(ms);
    return ms;
  };
  const events: string[] = [];
  const ctx = fakeCtx(api, dialer, {
    events: { emit: async (_o: unknown, type: string, reason: string) => void events.push(`${type} ${reason}`) },
    queue,
    now: () => new Date(Date.now() + clock.skew),
  });
  const { tasks } = ctx;
  const once = remoteMachineReconciler(ctx as never, {
    writer: new StatusWriter(() => {}, { intervalMs: 0 }),
    connectingHoldMs: 0,
  });
  const pass = async () => {
    try {
      return await once(KEY);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      return await once(KEY);
    }
  };
  const settled = async () => {
    for (let i = 0; i < 5000 && tasks.get(KEY)?.running; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(tasks.get(KEY)?.running, false, "the task ended");
  };
  stopped.push(async () => {
    await tasks.shutdown(1000);
    await queue.shutdown();
  });
  return { pass, settled, tasks, delays, events };
}

const rmOf = (api: FakeApi) => api.store(R.remoteMachines).get(KEY) as View;
const ready = (o: View) => o.status?.conditions?.find((c) => c.type === "Ready");
/** A change a person makes to the spec: a new input, which opens the retry gate. */
const editSpec = (api: FakeApi, port: number) => {
  const o = structuredClone(rmOf(api));
  api.put(R.remoteMachines, {
    ...o,
    metadata: { ...o.metadata, generation: (o.metadata.generation ?? 1) + 1 },
    spec: { ...o.spec, port },
  });
};

describe("RemoteMachine retry pacing across a controller restart (fake API, scripted host)", () => {
  it("a restarted controller keeps the retry gate and goes on with the backoff; success ends the record", async () => {
    const api = new FakeApi();
    const dialer = new ScriptedDialer([
      { match: isProbe, reply: { lines: ["node-1", "none"] } },
      { match: isStartAndFollow, reply: { lines: ["started", "progress 1 1 runcmd[0]", "exit 0 0"] } },
    ]);
    const clock = { skew: 0 };
    dialer.dialError = new SSHError("HostUnreachable", "10.0.0.1:22: ECONNREFUSED");
    putMachineObjects(api);
    const first = controller(api, dialer, clock);
    await first.pass();
    await first.settled();
    await first.pass();
    const record = readRetry(rmOf(api).metadata.annotations?.[RemoteAnnotations.BootstrapRetry], Date.now(), 300_000);
    assert.equal(record?.attempts, 1, "the failure is recorded on the object");
    assert.deepEqual(first.delays, [500]);
    assert.equal(ready(rmOf(api))?.reason, "HostUnreachable");
    const dials = dialer.dials;

    // Restart: the new controller knows nothing of the failure but what the object says.
    const second = controller(api, dialer, clock);
    const r = await second.pass();
    assert.equal(dialer.dials, dials, "no new attempt before the recorded time");
    assert.equal(second.tasks.get(KEY), undefined);
    assert.equal(ready(rmOf(api))?.reason, "HostUnreachable", "Ready still says why");
    assert.ok(r?.requeueAfterMs !== undefined && r.requeueAfterMs <= 2100, "and it comes back when the gate opens");

    // A changed input opens the gate; the next failure's backoff goes on from the first's.
    editSpec(api, 2222);
    await second.pass();
    await second.settled();
    await second.pass();
    assert.equal(dialer.dials, dials + 1);
    assert.deepEqual(second.delays, [1000], "the second failure waits twice as long, not the first delay again");
    assert.equal(
      readRetry(rmOf(api).metadata.annotations?.[RemoteAnnotations.BootstrapRetry], Date.now(), 300_000)?.attempts,
      2,
    );

    // The host is back: the success removes the record in the write that sets the provider ID.
    dialer.dialError = undefined;
    editSpec(api, 22);
    const writesBefore = api.writes.length;
    await second.pass();
    await second.settled();
    await second.pass();
    const done = rmOf(api);
    assert.equal(done.spec.providerID, "remote-machine://10.0.0.1:22");
    assert.equal(done.metadata.annotations?.[RemoteAnnotations.BootstrapRetry], undefined);
    assert.deepEqual(
      api.writes.slice(writesBefore).filter((w) => !w.includes("status")),
      ["json remotemachines", "merge remotemachines"],
      "the start record and the provider ID: no write of its own for the end of the record",
    );
  });

  it("a changed SSH key Secret opens the retry gate: its version in the metadata watch is an input", async () => {
    const api = new FakeApi();
    const dialer = new ScriptedDialer([{ match: isProbe, reply: { lines: ["node-1", "none"] } }]);
    dialer.dialError = new SSHError("AuthenticationFailed", "10.0.0.1:22: the machine refused the SSH key");
    putMachineObjects(api);
    const c = controller(api, dialer, { skew: 0 });
    await c.pass();
    await c.settled();
    await c.pass();
    const dials = dialer.dials;
    await c.pass();
    assert.equal(dialer.dials, dials, "the gate holds while nothing changed");
    // The user puts the right key in the Secret: only its resourceVersion says so (the watch
    // carries no data), and that alone lets the next pass try again.
    api.put(R.secrets, { metadata: { name: "key", namespace: NS }, data: { value: b64("THE RIGHT KEY") } });
    await c.pass();
    await c.settled();
    assert.equal(dialer.dials, dials + 1, "a new attempt with the new key");
  });

  it("a restarted controller goes on counting cleanup attempts and waits out the last one's delay", async () => {
    const api = new FakeApi();
    const failing: Rule[] = [
      { match: (c) => c.includes("alive"), reply: { lines: ["finished 0"] } },
      { match: () => true, reply: { code: 1 } },
    ];
    const dialer = new ScriptedDialer(failing);
    const clock = { skew: 0 };
    putMachineObjects(api, {
      metadata: {
        name: "rm",
        finalizers: [REMOTE_MACHINE_FINALIZER],
        annotations: { [RemoteAnnotations.BootstrapStarted]: "2026-12-01T00:00:00Z" },
        deletionTimestamp: new Date().toISOString(),
      },
      spec: { providerID: "remote-machine://10.0.0.1:22" },
    });
    const attempt = async (c: ReturnType<typeof controller>) => {
      await c.pass();
      await c.settled();
      return c.pass();
    };
    const cleanupCondition = () => rmOf(api).status?.conditions?.find((x) => x.type === "CleanupSucceeded");

    let c = controller(api, dialer, clock);
    let r = await attempt(c);
    assert.match(cleanupCondition()?.message ?? "", /^attempt 1 of 3:/);
    assert.equal(r?.requeueAfterMs, 2000);

    // Restart before the wait is over: no new attempt yet.
    c = controller(api, dialer, clock);
    const dials = dialer.dials;
    r = await c.pass();
    assert.equal(dialer.dials, dials, "the wait recorded on the object holds across the restart");
    assert.ok(r?.requeueAfterMs !== undefined && r.requeueAfterMs > 0 && r.requeueAfterMs <= 3050);

    clock.skew += 3000;
    r = await attempt(c);
    assert.match(cleanupCondition()?.message ?? "", /^attempt 2 of 3:/, "counted on from the first controller's");
    assert.equal(r?.requeueAfterMs, 6000);

    // Restart again: the third attempt is the last, and the controller gives up after it.
    c = controller(api, dialer, clock);
    clock.skew += 7000;
    await attempt(c);
    const o = rmOf(api);
    assert.deepEqual(o.metadata.finalizers, [], "given up after three attempts in all: the finalizer goes");
    assert.ok(c.events.includes("Warning CleanupFailed"));
    assert.equal(dialer.dials, dials + 2, "three cleanup connections in all, one per attempt");
  });
});
