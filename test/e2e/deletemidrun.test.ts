/**
 * Deleting a Machine while its bootstrap runs, end to end (real API server, real Cluster API
 * MachineDeployment, MachineSet and MachineHealthCheck controllers, real sshd hosts): a worker
 * whose bootstrap step sleeps is deleted by a MachineDeployment scale-down and, separately, by a
 * MachineHealthCheck (its Node never comes). Each time the run's whole process tree on the host
 * (the step's shell and the child it put in the background) is dead before the first cleanup
 * command runs, which records on the host what it saw, and the pool machine is back in the pool
 * only after that cleanup.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { createHost, destroyHost, readHostFile, type TestHost } from "../bed/hosts.js";
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

const STEP_LOG = "/var/log/longstep";
const SAW = "/var/log/cleanup-saw";
/** The long step: records its shell's PID and its background child's, then waits for it. */
const LONG_STEP = `  - sh -c 'echo $$ > /run/longstep.pid; sleep 900 & echo $! > /run/longstep-child.pid; echo "started $(date +%s%N)" >> ${STEP_LOG}; wait'\n`;
/**
 * The first cleanup command: notes any process of the run still alive (a zombie is dead: it only
 * waits to be reaped, and the test hosts' PID 1 may not reap), then the time.
 */
const SEE =
  `for f in /run/longstep.pid /run/longstep-child.pid; do [ -s $f ] || continue; p=$(cat $f); ` +
  `st=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f1); ` +
  `[ -z "$st" ] || [ "$st" = Z ] || echo "alive $f $p $st" >> ${SAW}; done; ` +
  `echo "cleanup $(date +%s%N)" >> ${SAW}`;

describe("delete during a bootstrap", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("midrun");
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  const pools: Record<string, TestHost> = {};
  let cp: TestHost;

  const poolMachine = (name: string, pool: string, h: TestHost) => ({
    apiVersion: `${INFRA}/v1beta2`,
    kind: "PooledRemoteMachine",
    metadata: { name },
    spec: { pool, machine: { address: h.address, sshKeyRef: { name: "ssh-key" }, cleanUpCommands: [SEE] } },
  });
  const deployment = (name: string, pool: string, replicas: number) => ({
    apiVersion: "cluster.x-k8s.io/v1beta2",
    kind: "MachineDeployment",
    metadata: { name },
    spec: {
      clusterName: "c1",
      replicas,
      selector: { matchLabels: { pool } },
      template: {
        metadata: { labels: { pool } },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: "long-bootstrap" },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: pool },
        },
      },
    },
  });
  const phase = async (name: string) => (await o.getInfra("pooledremotemachines", name)).status?.phase as string;

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    const [a, b, c] = await Promise.all(
      ["midrun-a", "midrun-b", "midrun-cp"].map((n) => createHost(n, [key.publicKey])),
    );
    pools.scale = a as TestHost;
    pools.mhc = b as TestHost;
    cp = c as TestHost;
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      bootstrapSecret("long-bootstrap", "c1", testBootstrap(t.bed, { extra: LONG_STEP })),
      poolMachine("pm-scale", "scale", pools.scale),
      poolMachine("pm-mhc", "mhc", pools.mhc),
      ...["scale", "mhc"].map((pool) => poolTemplate(pool)),
    ]);
    await makeCluster(t.bed, t.ns, "c1");
    // A control plane machine: Cluster API's health checks wait for an initialized control plane.
    await makeMachine(
      t.bed,
      t.ns,
      "cp-0",
      "c1",
      { address: cp.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed),
      { controlPlane: true },
    );
    ctl = new ControllerProcess(t.bed, t.ns, "midrun");
    await ctl.start();
    await o.waitProvisioned("cp-0", 120_000);
  });
  after(async () => {
    await ctl?.stop();
    await Promise.all([...Object.values(pools), ...(cp ? [cp] : [])].map((h) => destroyHost(h)));
  });

  /** Waits until the long step runs on the host; returns the Machine doing it. */
  const waitLongStep = async (pool: string, h: TestHost) => {
    await waitFor(
      `${h.name}: the long step runs`,
      async () => /started \d+/.test((await readHostFile(h, STEP_LOG)) ?? ""),
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const ms = (await o.list("machines", "cluster.x-k8s.io")).filter(
      (m) => m.metadata.labels?.["cluster.x-k8s.io/deployment-name"] === pool,
    );
    assert.equal(ms.length, 1);
    return ms[0] as Any;
  };

  /**
   * After the deletion: the cleanup ran once with no process of the run alive, and the pool
   * machine turned Available only after that cleanup (both times on this machine's clock).
   */
  const assertStoppedFirst = async (pm: string, h: TestHost, machine: string) => {
    let availableAt = 0;
    await waitFor(
      `${pm} back in the pool`,
      async () => {
        if ((await phase(pm)) !== "Available") throw new Error(`phase ${await phase(pm)}`);
        availableAt = Date.now();
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    assert.equal(await o.machineOrUndefined(machine), undefined, "the Machine is gone");
    const saw = ((await readHostFile(h, SAW)) ?? "").split("\n").filter(Boolean);
    const cleanups = saw.filter((l) => l.startsWith("cleanup "));
    assert.equal(cleanups.length, 1, `one cleanup ran: ${saw.join(" | ")}`);
    assert.deepEqual(
      saw.filter((l) => l.startsWith("alive")),
      [],
      "no process of the run (step shell, background child) was alive when the cleanup began",
    );
    const cleanupAt = Number((cleanups[0] as string).split(" ")[1]) / 1e6;
    assert.ok(availableAt > cleanupAt, "the pool machine came back after its cleanup, never before");
    const started = Number(/started (\d+)/.exec((await readHostFile(h, STEP_LOG)) ?? "")?.[1]) / 1e6;
    console.log(
      `# delete mid-run (${pm}): long step started -> cleanup ${((cleanupAt - started) / 1000).toFixed(1)} s; cleanup -> Available seen ${((availableAt - cleanupAt) / 1000).toFixed(1)} s`,
    );
  };

  it("a MachineDeployment scaled down mid-bootstrap: the run is stopped before cleanup, then the machine returns", async () => {
    await o.apply([deployment("scale", "scale", 1)]);
    const m = await waitLongStep("scale", pools.scale as TestHost);
    assert.equal(m.status?.phase === "Running", false, "still bootstrapping");
    await o.patchCapi("machinedeployments", "scale", { spec: { replicas: 0 } });
    await assertStoppedFirst("pm-scale", pools.scale as TestHost, m.metadata.name);
  });

  it("a MachineHealthCheck deleting a slow Machine: the run is stopped before cleanup, then the machine returns", async () => {
    await o.apply([
      deployment("mhc", "mhc", 1),
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineHealthCheck",
        metadata: { name: "mhc" },
        spec: {
          clusterName: "c1",
          selector: { matchLabels: { pool: "mhc" } },
          checks: { nodeStartupTimeoutSeconds: 30 },
        },
      },
    ]);
    const m = await waitLongStep("mhc", pools.mhc as TestHost);
    // Let no replacement take the machine back before the assertions: the pool has one machine,
    // and the MachineDeployment will want a new one after the remediation.
    await waitFor(
      "the MachineHealthCheck deletes the Machine",
      async () => {
        const x = await o.machineOrUndefined(m.metadata.name);
        if (!x || x.metadata.deletionTimestamp) return true;
        throw new Error(JSON.stringify((x.status?.conditions ?? []).map((c: Any) => [c.type, c.status, c.reason])));
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    await o.patchCapi("machinedeployments", "mhc", { spec: { replicas: 0 } });
    await assertStoppedFirst("pm-mhc", pools.mhc as TestHost, m.metadata.name);
  });
});
