/**
 * Intents with a fake DataSource and UiActions: what each action asks, what it sends, what it
 * reports, and that nothing is sent when the person says no or the data is not there yet.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PoolAnnotations } from "@capi-remote/shared/contract";
import { poolAction, scaleDeployment, setClusterPaused } from "./intents.js";
import { type DataSource, type KindKey, type KindState, type Obj, Refused, type UiActions } from "./types.js";

function fake(items: Partial<Record<KindKey, Obj[]>>, opts: { answer?: boolean; loaded?: boolean; fail?: Error } = {}) {
  const patches: { kind: KindKey; name: string; patch: unknown; type: string }[] = [];
  const said = {
    ok: [] as string[],
    error: [] as string[],
    confirms: [] as { title: string; message: string; ok: string }[],
  };
  const source: DataSource = {
    items: (k) => items[k] ?? [],
    state: (): KindState => ({ loaded: opts.loaded ?? true, missing: false }),
    patch: async (kind, obj, patch, type) => {
      if (opts.fail) throw opts.fail;
      patches.push({ kind, name: obj.metadata.name, patch, type });
    },
    remove: async () => {},
    reload: async () => {},
    eventsOf: () => [],
  };
  const ui: UiActions = {
    ok: (m) => said.ok.push(m),
    error: (m) => said.error.push(m),
    confirm: async (o) => {
      said.confirms.push(o);
      return opts.answer ?? true;
    },
    open: () => {},
  };
  return { source, ui, patches, said };
}

const obj = (name: string, rest: Partial<Obj> = {}): Obj => ({ metadata: { name, namespace: "ns" }, ...rest });

describe("intents", () => {
  it("cordon sends spec.cordoned without asking and says so", async () => {
    const f = fake({ pooledRemoteMachines: [obj("pm")] });
    assert.equal(await poolAction(f.source, f.ui, obj("pm"), "cordon"), true);
    assert.deepEqual(f.patches, [
      { kind: "pooledRemoteMachines", name: "pm", patch: { spec: { cordoned: true } }, type: "merge" },
    ]);
    assert.equal(f.said.confirms.length, 0);
    assert.match(f.said.ok[0] ?? "", /pm cordoned/);
  });

  it("release of a stale claim asks with the explanation, then annotates", async () => {
    const pm = obj("pm", {
      metadata: { name: "pm", namespace: "ns", annotations: { [PoolAnnotations.ClaimedBy]: "gone" } },
    });
    const f = fake({ pooledRemoteMachines: [pm] });
    assert.equal(await poolAction(f.source, f.ui, pm, "release"), true);
    assert.equal(f.said.confirms[0]?.ok, "Clear claim");
    assert.match(f.said.confirms[0]?.message ?? "", /RemoteMachine gone no longer exists/);
    assert.ok((f.patches[0]?.patch as Obj | undefined)?.metadata.annotations?.[PoolAnnotations.Release]);
  });

  it("release refuses while the stores that decide its meaning are loading (M12)", async () => {
    const pm = obj("pm", {
      metadata: { name: "pm", namespace: "ns", annotations: { [PoolAnnotations.ClaimedBy]: "rm" } },
    });
    const f = fake({ pooledRemoteMachines: [pm] }, { loaded: false });
    assert.equal(await poolAction(f.source, f.ui, pm, "release"), false);
    assert.equal(f.patches.length, 0);
    assert.equal(f.said.confirms.length, 0);
    assert.match(f.said.error[0] ?? "", /still loading/);
  });

  it("pause asks, says what pausing does, and sends nothing on no", async () => {
    const f = fake({ clusters: [obj("c1")] }, { answer: false });
    assert.equal(await setClusterPaused(f.source, f.ui, obj("c1"), true), false);
    assert.equal(f.said.confirms[0]?.title, "Pause Cluster c1");
    assert.equal(f.patches.length, 0);
  });

  it("resume does not ask", async () => {
    const f = fake({ clusters: [obj("c1", { spec: { paused: true } })] });
    assert.equal(await setClusterPaused(f.source, f.ui, obj("c1"), false), true);
    assert.deepEqual(f.patches[0]?.patch, { spec: { paused: false } });
    assert.equal(f.said.confirms.length, 0);
  });

  it("scale works from the freshest count and tests it in the patch (M12)", async () => {
    // The host handed over a copy with 3 replicas; the store already has 5.
    const f = fake({ machineDeployments: [obj("md", { spec: { replicas: 5, clusterName: "c1" } })] });
    assert.equal(await scaleDeployment(f.source, f.ui, obj("md", { spec: { replicas: 3 } }), 1), true);
    assert.deepEqual(f.patches[0], {
      kind: "machineDeployments",
      name: "md",
      type: "json",
      patch: [
        { op: "test", path: "/spec/replicas", value: 5 },
        { op: "replace", path: "/spec/replicas", value: 6 },
      ],
    });
    assert.equal(f.said.confirms.length, 0);
  });

  it("scale down asks, naming the Machine deletion", async () => {
    const f = fake({ machineDeployments: [obj("md", { spec: { replicas: 2, clusterName: "c1" } })] });
    assert.equal(await scaleDeployment(f.source, f.ui, obj("md"), -1), true);
    assert.equal(f.said.confirms[0]?.title, "Scale md down to 1");
    assert.match(f.said.confirms[0]?.message ?? "", /One Machine of MachineDeployment md is deleted/);
  });

  it("reports a failed patch as one error naming the action", async () => {
    const f = fake({ pooledRemoteMachines: [obj("pm")] }, { fail: new Error("connection reset") });
    assert.equal(await poolAction(f.source, f.ui, obj("pm"), "cordon"), false);
    assert.deepEqual(f.said.error, ["Cordon pm failed: connection reset"]);
  });

  it("says a forbidden change was refused, with the API server's reason, once", async () => {
    const why = 'machinedeployments "md" is forbidden: User "u" cannot patch resource "machinedeployments"';
    const f = fake(
      { machineDeployments: [obj("md", { spec: { replicas: 2 } })], clusters: [obj("c")] },
      { fail: new Refused(why) },
    );
    assert.equal(await scaleDeployment(f.source, f.ui, obj("md"), 1), false);
    assert.equal(await setClusterPaused(f.source, f.ui, obj("c"), false), false);
    assert.deepEqual(f.said.error, [
      `Scale md to 3 was refused by the API server (forbidden): ${why}`,
      `Resume c was refused by the API server (forbidden): ${why}`,
    ]);
  });
});
