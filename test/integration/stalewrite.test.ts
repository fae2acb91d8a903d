/**
 * No write from a stale copy: the start record a bootstrap task writes after its SSH work must
 * not replace a finalizer another writer added between the reconcile pass that started the task
 * and the write (a real kube-apiserver applies the JSON patches).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REMOTE_MACHINE_FINALIZER, RemoteAnnotations } from "@capi-remote/shared";
import {
  type RM,
  recordAttach,
  recordStart,
  type WriteDeps,
} from "../../controller/src/controllers/remotemachine/writes.js";
import { KubeApi, R } from "../../controller/src/kube/api.js";
import { finalizerOps } from "../../controller/src/kube/patch.js";
import { useBed } from "./helpers.js";

const OTHER = "example.com/other-controller";

describe("writes after SSH work, against a real API server", () => {
  const t = useBed("stalewrite");
  const api = () => new KubeApi(t.bed.clients.kc);

  /** A RemoteMachine with no finalizers, and that copy of it (what the pass saw). */
  async function created(name: string): Promise<RM> {
    return api().request<RM>(
      "POST",
      `/apis/${R.remoteMachines.group}/${R.remoteMachines.version}/namespaces/${t.ns}/${R.remoteMachines.plural}`,
      {
        apiVersion: `${R.remoteMachines.group}/${R.remoteMachines.version}`,
        kind: "RemoteMachine",
        metadata: { name },
        spec: { address: "10.1.2.3", sshKeyRef: { name: "k" } },
      },
    );
  }
  /** Another writer adds its finalizer after the pass. */
  const otherAddsFinalizer = (name: string) =>
    api().patch<RM>(
      R.remoteMachines,
      t.ns,
      name,
      [{ op: "add", path: "/metadata/finalizers", value: [OTHER] }],
      "json",
    );
  const deps = (stale: RM, writes: RM[]): WriteDeps => ({
    api: api(),
    current: () => stale,
    noteWritten: (o) => writes.push(o),
    now: () => new Date("2026-01-01T00:00:00Z"),
    priority: (w) => w(),
  });

  it("the unguarded op on the pass's copy would replace the other finalizer (the hazard is real)", async () => {
    const stale = await created("control");
    await otherAddsFinalizer("control");
    const res = await api().patch<RM>(
      R.remoteMachines,
      t.ns,
      "control",
      finalizerOps(stale.metadata.finalizers, REMOTE_MACHINE_FINALIZER),
      "json",
    );
    assert.deepEqual(res.metadata.finalizers, [REMOTE_MACHINE_FINALIZER]);
  });

  it("recordStart from a stale copy keeps a finalizer added in between, and records the start once", async () => {
    const stale = await created("start");
    await otherAddsFinalizer("start");
    const writes: RM[] = [];
    await recordStart(deps(stale, writes), t.ns, "start", "ssh-ed25519 AAAA");
    const now = await api().get<RM>(R.remoteMachines, t.ns, "start");
    assert.deepEqual(now.metadata.finalizers, [OTHER, REMOTE_MACHINE_FINALIZER]);
    assert.equal(now.metadata.annotations?.[RemoteAnnotations.BootstrapStarted], "2026-01-01T00:00:00.000Z");
    assert.equal(now.metadata.annotations?.[RemoteAnnotations.HostKey], "ssh-ed25519 AAAA");
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.metadata.resourceVersion, now.metadata.resourceVersion);
    // Again (a retried task): nothing missing, nothing written.
    await recordStart(deps(now, writes), t.ns, "start", "ssh-ed25519 AAAA");
    assert.equal(writes.length, 1);
  });

  it("recordAttach from a stale copy keeps a finalizer added in between", async () => {
    const stale = await created("attach");
    await otherAddsFinalizer("attach");
    await recordAttach(deps(stale, []), t.ns, "attach");
    const now = await api().get<RM>(R.remoteMachines, t.ns, "attach");
    assert.deepEqual(now.metadata.finalizers, [OTHER, REMOTE_MACHINE_FINALIZER]);
    assert.equal(now.metadata.annotations?.[RemoteAnnotations.BootstrapStarted], undefined);
  });
});
