/**
 * Taking over a running k0smotron installation in place (docs/migration.md), on the real bed:
 * objects written exactly as k0smotron's controller leaves them (both API versions, provisioned
 * machines, pool machines reserved in status only, a deletion in progress held by k0smotron's
 * finalizer, zero values as Go clients write them), k0smotron's controller gone, capi-remote
 * started. Nothing runs again on any machine, no pool machine gets a second holder, every object
 * shows capi-remote's status within seconds (the figure is printed), the deletion completes and
 * cleans up, and a new machine takes the one free pool machine.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, type TestHost, writeHostFile } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import {
  type Any,
  ControllerProcess,
  INFRA,
  makeCluster,
  makeMachine,
  objects,
  rest,
  testBootstrap,
} from "./harness.js";

const RUNS = "/var/log/capi-remote-test-runs";
const CLEANED = "/var/log/capi-remote-test-cleanups";
const K0S_FINALIZER = "remotemachine.k0smotron.io/finalizer";
const OUR_FINALIZER = "remotemachine.infrastructure.cluster.x-k8s.io";
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const POOL_MACHINE = "remote.infrastructure.cluster.x-k8s.io/pool-machine";

describe("migration from k0smotron", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("migrate");
  const hosts: Record<string, TestHost> = {};
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess | undefined;

  const path = (version: string, plural: string, name: string, sub?: string) =>
    `/apis/${INFRA}/${version}/namespaces/${t.ns}/${plural}/${name}${sub ? `/${sub}` : ""}`;
  /** Writes status as k0smotron's controller does: the whole status, through the given version. */
  const writeStatus = async (version: string, plural: string, name: string, status: Any) => {
    const cur = await rest(t.bed, "GET", path(version, plural, name));
    await rest(t.bed, "PUT", path(version, plural, name, "status"), { ...cur, status });
  };
  const cleanup = [`echo "cleaned $(date +%s%N)" >> ${CLEANED}`];
  const now = "2026-01-01T00:00:00Z";

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    for (const n of ["v1", "v2", "pa", "pb", "pc"]) hosts[n] = await createHost(`mig-${n}`, [key.publicKey]);
    // k0smotron ran each bootstrap once already: its runs file has that line.
    for (const n of ["v1", "v2", "pa", "pb"]) await writeHostFile(hosts[n] as TestHost, RUNS, "run by k0smotron\n");
    await o.apply([sshKeySecret(t.ns, "ssh-key", key)]);
    await makeCluster(t.bed, t.ns, "c1");
    const h = (n: string) => (hosts[n] as TestHost).address;
    const provider = (n: string) => `remote-machine://${h(n)}:22`;

    // A machine written through v1beta1 by a k0smotron of the v1beta1 era: status.ready only.
    await makeMachine(
      t.bed,
      t.ns,
      "k-v1",
      "c1",
      {
        address: h("v1"),
        port: 22,
        user: "root",
        commandsAsScript: false,
        workingDir: "/etc/k0smotron",
        sshKeyRef: { name: "ssh-key" },
        providerID: provider("v1"),
        customCleanUpCommands: cleanup,
      },
      testBootstrap(t.bed, { registerNode: false }),
      { annotations: {} },
    );
    // A v1beta2 one, with k0smotron's condition reasons.
    await makeMachine(
      t.bed,
      t.ns,
      "k-v2",
      "c1",
      { address: h("v2"), sshKeyRef: { name: "ssh-key" }, providerID: provider("v2"), cleanUpCommands: cleanup },
      testBootstrap(t.bed, { registerNode: false }),
    );
    // Pool machines: pm-a reserved by k-pool-a (provisioned), pm-b by k-del (provisioned; its
    // deletion began under k0smotron), pm-c free as Go writes it (port 0, user "").
    const pm = (name: string, host: string, machine: Any = {}) => ({
      apiVersion: `${INFRA}/v1beta1`,
      kind: "PooledRemoteMachine",
      metadata: { name, labels: { "example.com/rack": "r1" } },
      spec: {
        pool: "workers",
        machine: { address: h(host), port: 22, user: "root", sshKeyRef: { name: "ssh-key" }, ...machine },
      },
    });
    await o.apply([
      pm("pm-a", "pa", { customCleanUpCommands: cleanup }),
      pm("pm-b", "pb", { customCleanUpCommands: cleanup }),
      pm("pm-c", "pc", { port: 0, user: "" }),
    ]);
    // Pool RemoteMachines as k0smotron fills them in from the pool machine (labels too).
    const poolRm = (host: string) => ({
      pool: "workers",
      address: h(host),
      port: 22,
      user: "root",
      sshKeyRef: { name: "ssh-key" },
      cleanUpCommands: cleanup,
      providerID: provider(host),
    });
    await makeMachine(t.bed, t.ns, "k-pool-a", "c1", poolRm("pa"), testBootstrap(t.bed));
    await makeMachine(t.bed, t.ns, "k-del", "c1", poolRm("pb"), testBootstrap(t.bed));
    for (const name of ["k-v1", "k-v2", "k-pool-a", "k-del"])
      await o.patchInfra("remotemachines", name, {
        metadata: { finalizers: [K0S_FINALIZER], labels: { "example.com/rack": "r1" } },
      });

    await writeStatus("v1beta1", "remotemachines", "k-v1", {
      ready: true,
      addresses: [{ type: "ExternalIP", address: h("v1") }],
    });
    const k0sV2 = (host: string) => ({
      initialization: { provisioned: true },
      addresses: [{ type: "ExternalIP", address: h(host) }],
      conditions: [
        { type: "BootstrapExecSucceeded", status: "True", reason: "BootstrapExecSucceeded", lastTransitionTime: now },
        { type: "Ready", status: "True", reason: "Ready", lastTransitionTime: now },
      ],
    });
    for (const [name, host] of [
      ["k-v2", "v2"],
      ["k-pool-a", "pa"],
      ["k-del", "pb"],
    ] as const)
      await writeStatus("v1beta2", "remotemachines", name, k0sV2(host));
    await writeStatus("v1beta1", "pooledremotemachines", "pm-a", {
      reserved: true,
      machineRef: { name: "k-pool-a", namespace: t.ns },
    });
    await writeStatus("v1beta2", "pooledremotemachines", "pm-b", {
      reserved: true,
      machineRef: { name: "k-del", namespace: t.ns },
    });
    await writeStatus("v1beta1", "pooledremotemachines", "pm-c", {
      reserved: false,
      machineRef: { name: "", namespace: "" },
    });
    // The deletion k0smotron began and did not finish (its controller is gone): held by its finalizer.
    await rest(t.bed, "DELETE", path("v1beta2", "remotemachines", "k-del"));
    assert.ok((await o.rm("k-del")).metadata.deletionTimestamp, "k-del is being deleted");
  });

  after(async () => {
    await ctl?.stop();
    for (const h of Object.values(hosts)) await destroyHost(h);
  });

  it("takes over: nothing runs again, no second holder, capi-remote's status within seconds, the deletion completes", async () => {
    const started = Date.now();
    ctl = new ControllerProcess(t.bed, t.ns, "migrate", ["--pool-facts=false"]);
    await ctl.start();

    // Every object shows capi-remote's status.
    const shown = await waitFor(
      "capi-remote's status on every object",
      async () => {
        const rms = await o.list("remotemachines");
        const prms = await o.list("pooledremotemachines");
        const pending: string[] = [];
        for (const name of ["k-v1", "k-v2", "k-pool-a"]) {
          const rm = rms.find((x) => x.metadata.name === name);
          const ready = o.condition(rm ?? {}, "Ready");
          if (ready?.reason !== "Provisioned" || rm?.status?.initialization?.provisioned !== true)
            pending.push(`${name}: ${ready?.reason}`);
          if (JSON.stringify(rm?.metadata.finalizers) !== JSON.stringify([OUR_FINALIZER]))
            pending.push(`${name} finalizers ${JSON.stringify(rm?.metadata.finalizers)}`);
        }
        if (rms.some((x) => x.metadata.name === "k-del")) pending.push("k-del still there");
        for (const p of prms) if (!p.status?.phase) pending.push(`${p.metadata.name}: no phase`);
        if (pending.length) throw new Error(pending.join("; "));
        return { rms, prms };
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const ms = Date.now() - started;
    console.log(`# migration: every object showed capi-remote's status ${ms} ms after the controller was started`);

    // No second holder: pm-a is k-pool-a's (adopted with its UID), pm-b went back, pm-c free.
    const byName = (n: string) => shown.prms.find((p) => p.metadata.name === n) as Any;
    const kPoolA = shown.rms.find((x) => x.metadata.name === "k-pool-a") as Any;
    assert.equal(byName("pm-a").metadata.annotations?.[CLAIMED_BY], "k-pool-a");
    assert.equal(byName("pm-a").status.phase, "InUse");
    assert.equal(kPoolA.metadata.annotations?.[POOL_MACHINE], "pm-a");
    if (byName("pm-b").metadata.annotations?.[CLAIMED_BY] !== undefined) {
      const { writeFile } = await import("node:fs/promises");
      await writeFile("/tmp/wt-e-ctl.log", await ctl.log());
    }
    assert.equal(byName("pm-b").metadata.annotations?.[CLAIMED_BY], undefined, "pm-b returned by the deletion");
    assert.notEqual(byName("pm-b").status.reserved, true);
    assert.equal(byName("pm-c").status.phase, "Available");

    // The deletion ran its cleanup on its machine once; nothing else was cleaned.
    assert.equal(await countLines(hosts.pb as TestHost, CLEANED, "cleaned"), 1);
    for (const n of ["v1", "v2", "pa"]) assert.equal(await countLines(hosts[n] as TestHost, CLEANED, "cleaned"), 0);

    // A new pool machine is taken from the free one only, and labels reach its Machine.
    await makeMachine(
      t.bed,
      t.ns,
      "new-pool",
      "c1",
      { pool: "workers", sshKeyRef: { name: "" } },
      testBootstrap(t.bed, { registerNode: false }),
    );
    await o.patchInfra("remotemachines", "new-pool", { metadata: { labels: { "example.com/team": "a" } } });
    const fresh = await o.waitProvisioned("new-pool", 90_000);
    assert.equal(fresh.metadata.annotations?.[POOL_MACHINE], "pm-c");
    assert.equal(fresh.spec.port, 22, "port 0 of the Go-written pool machine read as 22");
    assert.equal(await countLines(hosts.pc as TestHost, RUNS, "run"), 1);
    const holders = (await o.list("pooledremotemachines")).map((p) => p.metadata.annotations?.[CLAIMED_BY]);
    assert.deepEqual(holders.sort(), [undefined, "k-pool-a", "new-pool"].sort());
    await waitFor("labels on the Machine", async () => {
      const m = await o.machine("new-pool");
      if (m.metadata.labels?.["example.com/team"] !== "a") throw new Error(JSON.stringify(m.metadata.labels));
      return m;
    });

    // Nothing ran again on any machine k0smotron had provisioned.
    for (const n of ["v1", "v2", "pa", "pb"])
      assert.equal(await countLines(hosts[n] as TestHost, RUNS, "run"), 1, `runs on ${n}`);

    // Deleting a taken-over machine completes and cleans up through capi-remote.
    await o.deleteMachine("k-v1");
    await waitFor("k-v1 gone", async () => ((await o.rmOrUndefined("k-v1")) ? undefined : true), {
      timeoutMs: 60_000,
    });
    assert.equal(await countLines(hosts.v1 as TestHost, CLEANED, "cleaned"), 1);
  });
});
