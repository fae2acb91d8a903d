import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineReconciler, type Phase, type ReconcilerSpec } from "./reconciler.js";

type Obj = { name: string; deleting?: boolean; paused?: boolean; managed?: boolean; finalizer?: boolean };
type Scope = { obj: Obj; log: string[]; status?: string };

function harness(objs: Record<string, Obj>, over: Partial<ReconcilerSpec<Obj, Scope>> = {}) {
  const log: string[] = [];
  const phase = (name: string, r?: ReturnType<Phase<Scope>["run"]>, fail = false): Phase<Scope> => ({
    name,
    run: (s) => {
      s.log.push(name);
      if (fail) throw new Error(`${name} failed`);
      return r;
    },
  });
  const spec: ReconcilerSpec<Obj, Scope> = {
    get: (_ns, name) => objs[name],
    gone: (key) => log.push(`gone ${key}`),
    skip: (o) => !!o.managed,
    deleting: (o) => !!o.deleting,
    ensureFinalizer: async (o) => {
      log.push("finalizer");
      return { ...o, finalizer: true };
    },
    newScope: (obj) => ({ obj, log }),
    isPaused: (s) => !!s.obj.paused,
    paused: [phase("paused")],
    normal: [phase("a", { requeueAfterMs: 300 }), phase("b", { requeueAfterMs: 100 }), phase("c")],
    delete: [phase("cleanup"), phase("removeFinalizer")],
    setStatus: (s) => {
      s.status = `computed after ${s.log.join(",")}`;
      log.push("status");
    },
    writeStatus: async () => {
      log.push("write");
      return undefined;
    },
    ...over,
  };
  return { run: defineReconciler(spec), log, phase };
}

describe("defineReconciler (the shared skeleton)", () => {
  it("normal: finalizer, phases in order, status once, one write; the lowest requeue wins", async () => {
    const h = harness({ x: { name: "x" } });
    assert.deepEqual(await h.run("ns/x"), { requeueAfterMs: 100 });
    assert.deepEqual(h.log, ["finalizer", "a", "b", "c", "status", "write"]);
  });

  it("a phase that stops ends the list; status and the write still run", async () => {
    const h = harness({ x: { name: "x" } });
    const h2 = harness({ x: { name: "x" } }, { normal: [h.phase("a", { stop: true }), h.phase("never")] });
    assert.equal(await h2.run("ns/x"), undefined);
    assert.deepEqual(h2.log, ["finalizer", "a", "status", "write"]);
  });

  it("a phase with `when` runs only when it holds, judged after the phases before it", async () => {
    const h = harness({ x: { name: "x" } });
    const setsFlag: Phase<Scope> = { name: "flag", run: (s) => void s.log.push("flag") };
    const onlyAfterFlag: Phase<Scope> = {
      name: "guarded",
      when: (s) => s.log.includes("flag"),
      run: (s) => void s.log.push("guarded"),
    };
    const never: Phase<Scope> = { name: "never", when: () => false, run: (s) => void s.log.push("never") };
    const h2 = harness({ x: { name: "x" } }, { normal: [h.phase("a"), never, setsFlag, onlyAfterFlag] });
    await h2.run("ns/x");
    assert.deepEqual(h2.log, ["finalizer", "a", "flag", "guarded", "status", "write"]);
  });

  it("deleting: the delete phases, no finalizer added", async () => {
    const h = harness({ x: { name: "x", deleting: true } });
    await h.run("ns/x");
    assert.deepEqual(h.log, ["cleanup", "removeFinalizer", "status", "write"]);
  });

  it("paused: only the paused phases", async () => {
    const h = harness({ x: { name: "x", paused: true } });
    await h.run("ns/x");
    assert.deepEqual(h.log, ["finalizer", "paused", "status", "write"]);
  });

  it("gone: forgets and stops; not ours: nothing at all", async () => {
    const h = harness({ m: { name: "m", managed: true } });
    assert.equal(await h.run("ns/y"), undefined);
    assert.equal(await h.run("ns/m"), undefined);
    assert.deepEqual(h.log, ["gone ns/y"]);
  });

  it("a phase that throws: what was observed is still written, then the error goes to the queue", async () => {
    const h = harness({ x: { name: "x" } });
    const h2 = harness({ x: { name: "x" } }, { normal: [h.phase("a"), h.phase("b", undefined, true), h.phase("c")] });
    await assert.rejects(h2.run("ns/x"), /b failed/);
    assert.deepEqual(h2.log, ["finalizer", "a", "b", "status", "write"]);
  });

  it("statusOnFailure false: a phase that throws leaves status and the write out", async () => {
    const h = harness({ x: { name: "x" } });
    const h2 = harness(
      { x: { name: "x" } },
      { statusOnFailure: false, normal: [h.phase("a"), h.phase("b", undefined, true), h.phase("c")] },
    );
    await assert.rejects(h2.run("ns/x"), /b failed/);
    assert.deepEqual(h2.log, ["finalizer", "a", "b"]);
  });

  it("a deferred write asks to come back, combined with the phases' requeue", async () => {
    const h = harness({ x: { name: "x" } }, { writeStatus: async () => 50 });
    assert.deepEqual(await h.run("ns/x"), { requeueAfterMs: 50 });
  });
});
