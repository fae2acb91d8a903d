/**
 * Taking over a running k0smotron installation in place (docs/migration.md), on the real bed:
 * objects written exactly as k0smotron's controller leaves them (both API versions, provisioned
 * machines, pool machines reserved in status only, a deletion in progress held by k0smotron's
 * finalizer, a bootstrap k0smotron failed, zero values and objects as Go clients write them),
 * k0smotron's controller gone, capi-remote started. Nothing runs again on any machine k0smotron
 * provisioned, the failed one is bootstrapped once, no pool machine gets a second holder, every
 * object shows capi-remote's status within seconds (the figure is printed), the deletion completes
 * and cleans up, and a new machine takes the one free pool machine. Then the way back: capi-remote
 * stopped, docs/migration.md's rollback patches applied, every object is in a state k0smotron's
 * types decode and its controller acts on as before (its pool lookup finds each machine's own pool
 * machine, every condition passes metav1.Condition's validation, no v1beta1-only field name).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, type TestHost, writeHostFile } from "../bed/hosts.js";
import { canMakeHosts, startTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
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
  // A bed of its own: the way back deletes capi-remote's admission policies, which the shared bed
  // keeps for every other suite.
  const t = { bed: undefined as unknown as TestBed, ns: `migrate-${randomBytes(3).toString("hex")}` };
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
    t.bed = await startTestBed();
    await ensureNamespace(t.bed.clients, t.ns);
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    for (const n of ["v1", "v2", "pa", "pb", "pc", "fx"]) hosts[n] = await createHost(`mig-${n}`, [key.publicKey]);
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
    ]);
    // pm-c exactly as a Go client marshals k0smotron's v1beta2 struct (no omitempty on port, user,
    // status; a zero ObjectMeta's creationTimestamp is null), with the API server's default field
    // validation, as client-go sends it.
    await rest(t.bed, "POST", `/apis/${INFRA}/v1beta2/namespaces/${t.ns}/pooledremotemachines`, {
      kind: "PooledRemoteMachine",
      apiVersion: `${INFRA}/v1beta2`,
      metadata: { name: "pm-c", namespace: t.ns, creationTimestamp: null, labels: { "example.com/rack": "r1" } },
      spec: { pool: "workers", machine: { address: h("pc"), port: 0, user: "", sshKeyRef: { name: "ssh-key" } } },
      status: { reserved: false, machineRef: { name: "", namespace: "" } },
    });
    // The pool's RemoteMachineTemplate as a Go client marshals k0smotron's struct (its template
    // metadata is a zero ObjectMeta).
    await rest(t.bed, "POST", `/apis/${INFRA}/v1beta2/namespaces/${t.ns}/remotemachinetemplates`, {
      kind: "RemoteMachineTemplate",
      apiVersion: `${INFRA}/v1beta2`,
      metadata: { name: "workers", namespace: t.ns, creationTimestamp: null },
      spec: { template: { metadata: { creationTimestamp: null }, spec: { pool: "workers" } } },
    });
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
    // A bootstrap k0smotron tried and failed (no provider ID): k0smotron would retry it; so does capi-remote.
    await makeMachine(
      t.bed,
      t.ns,
      "k-failed",
      "c1",
      { address: h("fx"), port: 22, user: "root", workingDir: "/etc/k0smotron", sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed, { registerNode: false }),
    );
    for (const name of ["k-v1", "k-v2", "k-pool-a", "k-del", "k-failed"])
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
    // k0smotron's updateStatus after a failed Provision: BootstrapExecSucceeded False, the summary
    // Ready False, the v1beta1 failure fields under status.deprecated.
    await writeStatus("v1beta2", "remotemachines", "k-failed", {
      conditions: [
        {
          type: "BootstrapExecSucceeded",
          status: "False",
          reason: "InternalError",
          message: "Check the bootstrap logs for more details",
          lastTransitionTime: now,
        },
        { type: "Ready", status: "False", reason: "InternalError", message: "", lastTransitionTime: now },
      ],
      deprecated: {
        v1beta1: {
          failureReason: "ProvisionFailed",
          failureMessage: "failed to provision RemoteMachine: exit status 1",
        },
      },
    });
    // k0smotron's cluster controller: provisioned, and Ready with its reason Ready.
    await writeStatus("v1beta2", "remoteclusters", "c1", {
      initialization: { provisioned: true },
      conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: now }],
    });
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
    // The deletion k0smotron began and did not finish (its controller is gone): the Machine was
    // deleted, Cluster API deleted its RemoteMachine, k0smotron's finalizer holds it.
    await o.deleteMachine("k-del");
    await waitFor("k-del being deleted", async () => !!(await o.rm("k-del")).metadata.deletionTimestamp);
  });

  after(async () => {
    await ctl?.stop();
    for (const h of Object.values(hosts)) await destroyHost(h);
    await t.bed?.stop();
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
        for (const name of ["k-v1", "k-v2", "k-pool-a", "k-failed"]) {
          const rm = rms.find((x) => x.metadata.name === name);
          const ready = o.condition(rm ?? {}, "Ready");
          if (ready?.reason !== "Provisioned" || rm?.status?.initialization?.provisioned !== true)
            pending.push(`${name}: ${ready?.reason}`);
          if (JSON.stringify(rm?.metadata.finalizers) !== JSON.stringify([OUR_FINALIZER]))
            pending.push(`${name} finalizers ${JSON.stringify(rm?.metadata.finalizers)}`);
        }
        if (rms.some((x) => x.metadata.name === "k-del")) pending.push("k-del still there");
        for (const p of prms) if (!p.status?.phase) pending.push(`${p.metadata.name}: no phase`);
        const rc = await o.getInfra("remoteclusters", "c1");
        if (o.condition(rc, "Ready")?.reason !== "Provisioned" || !o.condition(rc, "Paused"))
          pending.push(`RemoteCluster c1: Ready ${o.condition(rc, "Ready")?.reason}`);
        if (pending.length) throw new Error(pending.join("; "));
        return { rms, prms };
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const ms = Date.now() - started;
    console.log(`# migration: every object showed capi-remote's status ${ms} ms after the controller was started`);

    // k0smotron's failed bootstrap ran once under capi-remote, and its failure is no longer reported.
    const failed = shown.rms.find((x) => x.metadata.name === "k-failed") as Any;
    assert.equal(await countLines(hosts.fx as TestHost, RUNS, "run"), 1, "k-failed bootstrapped once");
    assert.equal(failed.status.deprecated?.v1beta1?.failureReason, undefined, JSON.stringify(failed.status));
    assert.equal(failed.status.failureReason, undefined);
    assert.equal(o.condition(failed, "BootstrapExecSucceeded")?.reason, "BootstrapSucceeded");

    // No second holder: pm-a is k-pool-a's (adopted with its UID), pm-b went back, pm-c free.
    const byName = (n: string) => shown.prms.find((p) => p.metadata.name === n) as Any;
    const kPoolA = shown.rms.find((x) => x.metadata.name === "k-pool-a") as Any;
    assert.equal(byName("pm-a").metadata.annotations?.[CLAIMED_BY], "k-pool-a");
    assert.equal(byName("pm-a").status.phase, "InUse");
    assert.equal(kPoolA.metadata.annotations?.[POOL_MACHINE], "pm-a");
    assert.equal(byName("pm-b").metadata.annotations?.[CLAIMED_BY], undefined, "pm-b returned by the deletion");
    assert.notEqual(byName("pm-b").status.reserved, true);
    assert.equal(byName("pm-c").status.phase, "Available");

    // The deletion ran its cleanup on its machine once; nothing else was cleaned.
    assert.equal(await countLines(hosts.pb as TestHost, CLEANED, "cleaned"), 1);
    for (const n of ["v1", "v2", "pa"]) assert.equal(await countLines(hosts[n] as TestHost, CLEANED, "cleaned"), 0);

    // A new pool machine is taken from the free one only, and labels and annotations reach its
    // Machine as k0smotron passes them: the pool machine's and the RemoteMachine's own, each only
    // where the Machine has no value (here example.com/keep), Cluster API's keys not at all. Its
    // RemoteMachine as a Go client writes k0smotron's v1beta2 struct: sshKeyRef is a struct
    // without omitempty, so an unset one is {name: ""}; the zero status is {}.
    // pm-b, returned by the deletion, is free as well, and a claim starts at a place in the pool
    // drawn from the RemoteMachine's UID: pm-b is cordoned while new-pool claims, so it gets pm-c,
    // the machine k0smotron left free as a Go client wrote it (and pm-b stays as the deletion left it).
    await o.patchInfra("pooledremotemachines", "pm-b", { spec: { cordoned: true } });
    await rest(t.bed, "POST", `/apis/${INFRA}/v1beta2/namespaces/${t.ns}/remotemachines`, {
      kind: "RemoteMachine",
      apiVersion: `${INFRA}/v1beta2`,
      metadata: {
        name: "new-pool",
        namespace: t.ns,
        creationTimestamp: null,
        labels: { "example.com/team": "a", "example.com/keep": "from-rm" },
        annotations: { "example.com/owner": "ops", "cluster.x-k8s.io/cloned-from-name": "not-copied" },
      },
      spec: { pool: "workers", sshKeyRef: { name: "" } },
      status: {},
    });
    await makeMachine(
      t.bed,
      t.ns,
      "new-pool",
      "c1",
      { pool: "workers", sshKeyRef: { name: "" } },
      testBootstrap(t.bed, { registerNode: false }),
    );
    // (The Machine's own value, set before the bootstrap can have run: that needs a claim and SSH.)
    await o.patchCapi("machines", "new-pool", { metadata: { labels: { "example.com/keep": "machine" } } });
    const fresh = await o.waitProvisioned("new-pool", 90_000);
    assert.equal(fresh.metadata.annotations?.[POOL_MACHINE], "pm-c");
    assert.equal(fresh.spec.port, 22, "port 0 of the Go-written pool machine read as 22");
    assert.equal(await countLines(hosts.pc as TestHost, RUNS, "run"), 1);
    await o.patchInfra("pooledremotemachines", "pm-b", { spec: { cordoned: null } });
    const holders = (await o.list("pooledremotemachines")).map((p) => p.metadata.annotations?.[CLAIMED_BY]);
    assert.deepEqual(holders.sort(), [undefined, "k-pool-a", "new-pool"].sort());
    const m = await waitFor("labels on the Machine", async () => {
      const m = await o.machine("new-pool");
      if (m.metadata.labels?.["example.com/team"] !== "a") throw new Error(JSON.stringify(m.metadata.labels));
      return m;
    });
    assert.equal(m.metadata.labels["example.com/rack"], "r1", "the pool machine's label");
    assert.equal(m.metadata.labels["example.com/keep"], "machine", "the Machine's own value stays");
    assert.equal(m.metadata.annotations?.["example.com/owner"], "ops");
    assert.equal(m.metadata.annotations?.["cluster.x-k8s.io/cloned-from-name"], undefined);

    // The Go-written template reads its pool: three machines, pm-b free.
    await waitFor("the template's pool counts", async () => {
      const pool = (await o.getInfra("remotemachinetemplates", "workers")).status?.pool;
      if (pool?.total !== 3 || pool?.available !== 1) throw new Error(JSON.stringify(pool));
      return true;
    });

    // Nothing ran again on any machine k0smotron had provisioned.
    for (const n of ["v1", "v2", "pa", "pb"])
      assert.equal(await countLines(hosts[n] as TestHost, RUNS, "run"), 1, `runs on ${n}`);

    // Deleting a taken-over machine completes and cleans up through capi-remote.
    await o.deleteMachine("k-v2");
    await waitFor("k-v2 gone", async () => ((await o.rmOrUndefined("k-v2")) ? undefined : true), {
      timeoutMs: 60_000,
    });
    assert.equal(await countLines(hosts.v2 as TestHost, CLEANED, "cleaned"), 1);
  });

  it("the way back: with capi-remote stopped and the rollback patches applied, k0smotron's controller would find every object as it left it", async () => {
    await ctl?.stop();
    ctl = undefined;
    // docs/migration.md, "Going back", in its order. capi-remote's admission policies go first:
    // they refuse spec changes of held pool machines and provisioned RemoteMachines, and the claim
    // annotations, which the next steps change.
    const admission = "/apis/admissionregistration.k8s.io/v1";
    const mine = "labelSelector=cluster.x-k8s.io%2Fprovider%3Dinfrastructure-remote";
    const held = (name: string) =>
      rest(
        t.bed,
        "PATCH",
        path("v1beta2", "pooledremotemachines", name),
        [{ op: "move", from: "/spec/machine/customCleanUpCommands", path: "/spec/machine/cleanUpCommands" }],
        "application/json-patch+json",
      );
    await assert.rejects(held("pm-a"), /cannot change while RemoteMachine k-pool-a holds it/);
    for (const kind of ["validatingadmissionpolicybindings", "validatingadmissionpolicies"])
      await rest(t.bed, "DELETE", `${admission}/${kind}?${mine}`);
    await waitFor("capi-remote's admission policies gone", async () => {
      const left = await rest(t.bed, "GET", `${admission}/validatingadmissionpolicies?${mine}`);
      return (left.items ?? []).length === 0;
    });
    // Objects written through v1beta1 while capi-remote ran keep the v1beta1 name
    // customCleanUpCommands, which k0smotron's v1beta2 schema prunes: the rename (k0smotron also
    // copies a pool machine's cleanUpCommands onto its RemoteMachine on every pass); k0smotron's
    // finalizer in place of capi-remote's; capi-remote's claim records off the pool machines.
    const jsonPatch = (plural: string, name: string, ops: Any[]) =>
      rest(t.bed, "PATCH", path("v1beta2", plural, name), ops, "application/json-patch+json");
    await waitFor("the renames pass admission", async () => {
      for (const rm of await o.list("remotemachines"))
        if (rm.spec.customCleanUpCommands)
          await jsonPatch("remotemachines", rm.metadata.name, [
            { op: "move", from: "/spec/customCleanUpCommands", path: "/spec/cleanUpCommands" },
          ]);
      for (const p of await o.list("pooledremotemachines"))
        if (p.spec.machine.customCleanUpCommands) await held(p.metadata.name);
      return true;
    });
    for (const rm of await o.list("remotemachines"))
      await jsonPatch("remotemachines", rm.metadata.name, [
        { op: "replace", path: "/metadata/finalizers", value: [K0S_FINALIZER] },
      ]);
    for (const p of await o.list("pooledremotemachines"))
      await o.patchInfra("pooledremotemachines", p.metadata.name, {
        metadata: { annotations: { [CLAIMED_BY]: null, [`${CLAIMED_BY}-uid`]: null } },
      });

    // What k0smotron's controller reads, through its own version (v1beta2).
    const back = await o.list("remotemachines");
    const pools = await o.list("pooledremotemachines");
    assert.deepEqual(back.map((r) => r.metadata.name).sort(), ["k-failed", "k-pool-a", "k-v1", "new-pool"]);
    const validConditions = (name: string, conditions: Any[] | undefined) => {
      for (const c of conditions ?? []) {
        assert.match(
          c.type,
          /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
        );
        assert.match(c.reason ?? "", /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, `${name}/${c.type}: reason`);
        assert.ok(["True", "False", "Unknown"].includes(c.status), `${name}/${c.type}: status`);
        assert.ok(!Number.isNaN(Date.parse(c.lastTransitionTime)), `${name}/${c.type}: lastTransitionTime`);
        assert.equal(typeof (c.message ?? ""), "string");
      }
    };
    const rc = await o.getInfra("remoteclusters", "c1");
    assert.equal(rc.status?.initialization?.provisioned, true, "RemoteCluster c1 provisioned");
    validConditions("RemoteCluster c1", rc.status?.conditions);
    for (const rm of back) {
      const name = rm.metadata.name;
      // It skips a machine with status.initialization.provisioned or a provider ID: nothing runs again.
      assert.equal(rm.status?.initialization?.provisioned, true, `${name}: provisioned`);
      assert.ok(rm.spec.providerID, `${name}: provider ID`);
      assert.deepEqual(rm.metadata.finalizers, [K0S_FINALIZER], `${name}: k0smotron's finalizer only`);
      assert.equal(rm.spec.customCleanUpCommands, undefined, `${name}: no v1beta1-only field`);
      // Its status patch sends every condition back; its CRD validates them as metav1.Condition.
      validConditions(name, rm.status?.conditions);
      // For a pool machine it first looks up the pool machine reserved under this name
      // (status.reserved and status.machineRef.name); finding none, it would reserve a free one and
      // overwrite this machine's address. Each must find its own.
      if (rm.spec.pool) {
        const mine = pools.filter(
          (p) => p.spec.pool === rm.spec.pool && p.status?.reserved === true && p.status?.machineRef?.name === name,
        );
        assert.equal(mine.length, 1, `${name}: k0smotron's lookup finds ${mine.length} pool machines`);
        assert.equal(mine[0].spec.machine.address, rm.spec.address, `${name}: its own pool machine`);
        assert.equal(mine[0].status.machineRef.namespace, t.ns);
      }
    }
    // The one pool machine nobody holds is free in k0smotron's eyes; every pool machine has its
    // cleanup commands under the v1beta2 name and no claim record for k0smotron to copy onto the
    // RemoteMachine it reserves it for.
    assert.deepEqual(
      pools.filter((p) => p.status?.reserved !== true).map((p) => p.metadata.name),
      ["pm-b"],
    );
    for (const p of pools) {
      assert.equal(p.spec.machine.customCleanUpCommands, undefined, p.metadata.name);
      assert.equal(p.metadata.annotations?.[CLAIMED_BY], undefined, p.metadata.name);
    }
    for (const n of ["pm-a", "pm-b"])
      assert.deepEqual(pools.find((p) => p.metadata.name === n)?.spec.machine.cleanUpCommands, cleanup, n);
  });
});
