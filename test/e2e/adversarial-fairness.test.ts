/**
 * One namespace must not hold every SSH slot (M6). Namespace A creates 100 RemoteMachines whose
 * address accepts TCP and never speaks (each dial waits its whole `connectSeconds`, 600) and
 * `bootstrapSeconds` 172800; namespace B's machine must still start its bootstrap within 5 s, and
 * its delete must run its cleanup meanwhile. Measured against a baseline of B alone in the same
 * run, and checked against a control run with the share turned off (`--ssh-namespace-share=1`),
 * where the same load makes B wait.
 *
 * Two namespaces need a controller that watches all namespaces, so this suite runs its own bed
 * (API server, Cluster API) instead of the shared one: a cluster-wide controller on the shared
 * bed would reconcile other suites' objects.
 */
import assert from "node:assert/strict";
import { cpus, loadavg } from "node:os";
import { after, before, describe, it } from "node:test";
import { type KeyPair, makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { type HostileServer, startHostile } from "../bed/hostile.js";
import { createHost, destroyHost, type TestHost } from "../bed/hosts.js";
import { canMakeHosts, startTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
import {
  ControllerProcess,
  makeCluster,
  makeMachine,
  objects,
  testBootstrap,
  timeToBootstrapStart,
} from "./harness.js";

const BLACK_HOLES = 100;

describe("adversarial: fair share of SSH slots", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  let bed: TestBed;
  let ctl: ControllerProcess | undefined;
  let host: TestHost;
  let key: KeyPair;
  let hole: HostileServer;
  const suffix = Math.random().toString(16).slice(2, 8);
  const nsA = `fair-a-${suffix}`;
  const nsB = `fair-b-${suffix}`;

  before(async () => {
    bed = await startTestBed();
    key = await makeKeyPair("ed25519");
    host = await createHost("fair-b", [key.publicKey]);
    hole = await startHostile({ kind: "silent" });
    for (const ns of [nsA, nsB]) {
      await ensureNamespace(bed.clients, ns);
      await objects(bed, ns).apply([sshKeySecret(ns, "key", key)]);
      await makeCluster(bed, ns, "c1");
    }
  });
  after(async () => {
    await ctl?.stop();
    await hole?.close();
    if (host) await destroyHost(host);
    await bed?.stop();
  });

  /** Watches all namespaces (the controller of this bed only): `--namespace=` empty means all. */
  const startController = async (name: string, extra: string[] = []) => {
    ctl = new ControllerProcess(bed, nsA, name, ["--namespace=", ...extra]);
    await ctl.start();
  };
  const machineB = (name: string) =>
    makeMachine(
      bed,
      nsB,
      name,
      "c1",
      { address: host.address, sshKeyRef: { name: "key" }, hostKeys: [host.knownHostsLine] },
      testBootstrap(bed),
    );
  /** Ms from now until B's RemoteMachine records its bootstrap's start (the run is then started on the machine). */
  const timeToStart = (name: string, timeoutMs: number) =>
    timeToBootstrapStart(bed, nsB, name, () => machineB(name), timeoutMs);

  it(`with ${BLACK_HOLES} black-hole machines in namespace A, B's machine starts its bootstrap within 5 s and is deleted`, async () => {
    await startController("fair");
    const baseline = await timeToStart("b0", 60_000);
    assert.ok(baseline !== undefined, "b0 never started, with no load at all");

    const a = objects(bed, nsA);
    const b = objects(bed, nsB);
    for (let i = 0; i < BLACK_HOLES; i++)
      await makeMachine(
        bed,
        nsA,
        `hole-${i}`,
        "c1",
        {
          address: hole.host,
          port: hole.port,
          sshKeyRef: { name: "key" },
          insecureSkipHostKeyVerification: true,
          timeouts: { connectSeconds: 600, bootstrapSeconds: 172_800 },
        },
        testBootstrap(bed),
      );
    // A's share of the bootstrap lane (100 × 0.5) is taken, and no more.
    await waitFor("A's dials hold its share of the slots", () => hole.open >= 50, { timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 3000));
    const held = hole.open;
    assert.equal(held, 50, `A holds ${held} connections to the black hole`);

    const loaded = await timeToStart("b1", 60_000);
    await b.waitProvisioned("b1", 120_000);
    const t0 = Date.now();
    await b.deleteMachine("b1");
    await waitFor("b1 deleted (cleanup ran)", async () => !(await b.rmOrUndefined("b1")), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const deleteMs = Date.now() - t0;
    const stillHeld = hole.open;
    console.log(
      `M6 figure: namespace A holds ${held} connections to ${BLACK_HOLES} black-hole machines (connectSeconds 600; share 0.5 of 100 slots); namespace B's bootstrap started ${loaded} ms after its objects were created (baseline, same run, no load: ${baseline} ms); B's delete with its cleanup took ${deleteMs} ms; A still held ${stillHeld}; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`,
    );
    assert.ok(loaded !== undefined && loaded < 5000, `B's bootstrap started after ${loaded} ms`);
    assert.equal(stillHeld, 50);
    assert.ok((await a.list("remotemachines")).length === BLACK_HOLES);
  });

  it("control: with the share turned off (--ssh-namespace-share=1), the same load holds B's bootstrap up", async () => {
    await ctl?.stop();
    await waitFor("the old controller's dials closed", () => hole.open === 0, { timeoutMs: 30_000 });
    await startController("fair-unshared", ["--ssh-namespace-share=1"]);
    await waitFor("A's dials take every slot", () => hole.open >= 100, { timeoutMs: 120_000 });
    const waited = await timeToStart("b2", 8000);
    console.log(
      `M6 control: with --ssh-namespace-share=1, A holds ${hole.open} connections and B's bootstrap ${waited === undefined ? "had not started after 8000 ms" : `started after ${waited} ms`}`,
    );
    assert.equal(waited, undefined, "B started although A held every slot: the load does not saturate the lane");
  });
});
