/**
 * Provisioning benchmarks (issue 6), against the test bed's real API server and Cluster API
 * manager, real sshd hosts in network namespaces and the real controller (as its ServiceAccount):
 *
 * - **Reaction**: for each of R machines (default 30) waiting for bootstrap data, the time from
 *   creating its bootstrap Secret to the first bootstrap command running on the host (the host
 *   writes its clock, which is this machine's clock). Secrets are created one at a time, 1 s apart,
 *   so each figure is a reaction and not a queue. Baseline, same run: this process connecting
 *   with ssh2 and running one command on the same hosts (the floor any SSH provider pays).
 *   Measured twice: on the warm path (the machine's connection open and its run waiting) and on
 *   the cold path (a second controller, in a namespace of its own, with `--max-warm-ssh=0`: the
 *   Secret's arrival pays the handshake, the probes and the start).
 * - **Parallel**: P machines (default 50) whose bootstrap sleeps 5 s, all released at once: wall
 *   time from the Secrets' creation to the last bootstrap finished, against one machine's alone.
 * - **API writes** per machine, from Machine creation to Running (each Node registered by this
 *   process once its machine is provisioned, as a kubelet would), counted by the controller's
 *   own request metrics.
 *
 * Run: npm run bench -- provision   (root: the SSH hosts live in network namespaces)
 * Env: BENCH_REACTION (30), BENCH_PARALLEL (50), BENCH_SLEEP (5).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Client } from "ssh2";
import { R as KR, KubeApi } from "../controller/src/kube/api.js";
import { Informer, type KObject } from "../controller/src/runtime/informer.js";
import { makeLogger } from "../controller/src/runtime/log.js";
import { makeKeyPair, sshKeySecret } from "../test/bed/fixtures.js";
import { createHost, destroyHost, hostExec, readHostFile, type TestHost } from "../test/bed/hosts.js";
import { getTestBed, type TestBed } from "../test/bed/index.js";
import { ensureNamespace } from "../test/bed/kube.js";
import {
  type Any,
  ControllerProcess,
  INFRA,
  makeCluster,
  makeMachine,
  objects,
  testBootstrap,
  testNode,
} from "../test/e2e/harness.js";
import { apiServerRequests, profileApiServer, requestsBetween } from "./lib/pprof.js";

const R = Number(process.env.BENCH_REACTION ?? 30);
const P = Number(process.env.BENCH_PARALLEL ?? 50);
const SLEEP = Number(process.env.BENCH_SLEEP ?? 5);
// HTTP methods as the controller's request metric records them (an Event is a POST).
const WRITE_VERBS = ["post", "put", "patch", "delete"];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** The controller's accepted writes so far, by "verb resource" (its request metric). */
async function controllerWrites(c: ControllerProcess): Promise<Map<string, number>> {
  const text = await c.metricsText();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^capi_remote_api_requests_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const labels = Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (!WRITE_VERBS.includes(labels.verb ?? "") || !/^2/.test(labels.code ?? "")) continue;
    const k = `${labels.verb} ${labels.resource}`;
    out.set(k, (out.get(k) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * Waits until the controller has made no write and opened no SSH connection for 2 s (at most
 * 30 s): machines waiting for their data have their connections ready, as when a bootstrap
 * provider takes its usual seconds.
 */
async function settle(c: ControllerProcess): Promise<void> {
  const total = async () => {
    const writes = [...(await controllerWrites(c)).values()].reduce((a, b) => a + b, 0);
    const text = await c.metricsText();
    const ssh = Number(/^capi_remote_ssh_sessions (\S+)$/m.exec(text)?.[1] ?? 0);
    return writes * 100_000 + ssh;
  };
  let last = await total();
  let quietSince = Date.now();
  for (const end = Date.now() + 30_000; Date.now() < end && Date.now() - quietSince < 2000; ) {
    await sleep(250);
    const now = await total();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
  // Then until the machine itself is quiet (at most 30 s more): the warm-up (50 SSH handshakes
  // on the hosts, Cluster API's reconciles of the new Machines) must not be still running at the
  // release, or the figure measures the set-up. The one-machine run is released the same way.
  for (const end = Date.now() + 30_000; Date.now() < end; ) {
    const a = await cpuTimes();
    await sleep(1000);
    const b = await cpuTimes();
    if (1 - (b.idle - a.idle) / (b.total - a.total) < 0.25) break;
  }
}

/** The machine's CPU time so far (all cores, from /proc/stat): total and idle. */
async function cpuTimes(): Promise<{ total: number; idle: number }> {
  const f = (await readFile("/proc/stat", "utf8")).split("\n")[0]?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  return { total: f.reduce((a, b) => a + b, 0), idle: (f[3] ?? 0) + (f[4] ?? 0) };
}

/** Writes per machine between two readings, in total and by "verb resource". */
function writesPer(before: Map<string, number>, after: Map<string, number>, n: number) {
  const by: [string, number][] = [];
  let total = 0;
  for (const [k, v] of after) {
    const d = (v - (before.get(k) ?? 0)) / n;
    if (d > 0) by.push([k, d]);
    total += d;
  }
  by.sort((a, b) => b[1] - a[1]);
  return { total, by: by.map(([k, d]) => `${k} ${d.toFixed(1)}`).join(", ") };
}

/** One ssh2 connection + one command, as the floor of the reaction. */
function rawSshMs(host: TestHost, privateKey: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = new Client();
    c.on("ready", () => {
      c.exec("true", (err, stream) => {
        if (err) return reject(err);
        stream.on("close", () => {
          resolve(performance.now() - t0);
          c.end();
        });
        stream.resume();
      });
    });
    c.on("error", reject);
    c.connect({ host: host.address, port: 22, username: "root", privateKey, hostVerifier: () => true });
  });
}

/** One ssh2 session running `command` (the parallel baseline: what this machine's sshd hosts allow). */
function rawSshRun(host: TestHost, privateKey: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on("ready", () => {
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        stream.on("close", () => {
          resolve();
          c.end();
        });
        stream.resume();
      });
    });
    c.on("error", reject);
    c.connect({
      host: host.address,
      port: 22,
      username: "root",
      privateKey,
      hostVerifier: () => true,
      readyTimeout: 120_000,
    });
  });
}

/** Machines (with RemoteMachines at the hosts' addresses) whose bootstrap Secrets do not exist yet. */
async function machines(bed: TestBed, ns: string, names: string[], hosts: TestHost[]) {
  const o = objects(bed, ns);
  await Promise.all(
    names.map((name, i) =>
      o.apply([
        {
          apiVersion: `${INFRA}/v1beta2`,
          kind: "RemoteMachine",
          metadata: { name },
          spec: { address: hosts[i]?.address, sshKeyRef: { name: "ssh-key" } },
        },
        {
          apiVersion: "cluster.x-k8s.io/v1beta2",
          kind: "Machine",
          metadata: { name },
          spec: {
            clusterName: "c1",
            bootstrap: { dataSecretName: `${name}-bootstrap` },
            infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
          },
        },
      ]),
    ),
  );
}

/**
 * Creates bootstrap Secrets over one kept-alive connection (the controller's own client), so that
 * the figures measure the controller and not this process's TLS handshakes and discovery.
 */
let creator: KubeApi | undefined;
async function createSecrets(ns: string, secrets: ReturnType<typeof bootstrapSecret>[]): Promise<void> {
  await Promise.all(secrets.map((sec) => (creator as KubeApi).create(KR.secrets, ns, sec)));
}

const bootstrapSecret = (name: string, value: string) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: `${name}-bootstrap`, labels: { "cluster.x-k8s.io/cluster-name": "c1" } },
  type: "cluster.x-k8s.io/secret",
  stringData: { value },
});

/**
 * Where a reaction's time goes, from the controller's debug log (BENCH_LOG_LEVEL=debug): Secret
 * created -> the reconcile starts the bootstrap task -> the start is recorded (API write) and the
 * runner is started on the machine (the two overlap). Empty at other log levels.
 */
async function reactionBreakdown(logFile: string, ns: string, createdAt: Map<string, number>): Promise<string> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  const began = new Map<string, number>();
  const marked: number[] = [];
  const started: number[] = [];
  const toTask: number[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const l = JSON.parse(line) as Any;
    const name =
      typeof l.remoteMachine === "string" && l.remoteMachine.startsWith(`${ns}/`)
        ? l.remoteMachine.slice(ns.length + 1)
        : "";
    const at = createdAt.get(name);
    if (at === undefined) continue;
    if (l.msg === "starting the bootstrap task" && !began.has(name)) {
      began.set(name, Date.parse(l.ts));
      toTask.push(Date.parse(l.ts) - at);
    } else if (typeof l.msg === "string" && l.msg.startsWith("bootstrap started on the machine")) {
      marked.push(l.marked);
      started.push(l.started);
    }
  }
  if (!toTask.length || !started.length) return "";
  return `  where it goes (p50, controller log): Secret -> task started by the reconcile ${pct(toTask, 50)} ms; then start recorded (API write) ${pct(marked, 50)} ms, runner started on the machine ${pct(started, 50)} ms (side by side)
`;
}

/**
 * The parallel release's timeline from the controller's debug log (BENCH_LOG_LEVEL=debug), in ms
 * after the Secrets were created: when the reconcile started each bootstrap task, when its start
 * record was written, and when the machine said "started" (p50 and last of each).
 */
async function parallelTimeline(logFile: string, ns: string, names: string[], t0Ms: number): Promise<string> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  const wanted = new Set(names);
  const task = new Map<string, number>();
  const marked: number[] = [];
  const started: number[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const l = JSON.parse(line) as Any;
    const name = typeof l.remoteMachine === "string" ? l.remoteMachine.slice(ns.length + 1) : "";
    if (!wanted.has(name) || !String(l.remoteMachine).startsWith(`${ns}/`)) continue;
    if (l.msg === "starting the bootstrap task" && !task.has(name)) task.set(name, Date.parse(l.ts) - t0Ms);
    else if (typeof l.msg === "string" && l.msg.startsWith("bootstrap started on the machine")) {
      const at = task.get(name) ?? Number.NaN;
      marked.push(at + l.marked);
      started.push(at + l.started);
    }
  }
  if (!task.size || !started.length) return "";
  const both = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} / last ${pct(xs, 100).toFixed(0)} ms`;
  return `  timeline after the Secrets (controller log): task started ${both([...task.values()])}; start recorded ${both(marked)}; "started" from the machine ${both(started)}
`;
}

async function waitAll(what: string, pred: () => Promise<boolean>, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(250);
  }
  throw new Error(`timed out: ${what}`);
}

/**
 * Creates each machine's bootstrap Secret in turn (1 s apart) and returns, per machine, the time
 * from the Secret's creation to the first bootstrap command running on its host.
 */
async function reactionRun(namespace: string, names: string[]) {
  const reaction: number[] = [];
  const createdAt = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    const h = hosts[i] as TestHost;
    const data = `#cloud-config\nruncmd:\n  - date +%s%N > /var/tmp/bench-first\n  - mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete\n`;
    await hostExec(h, "rm -f /var/tmp/bench-first");
    const t0 = nowNs();
    createdAt.set(name, Date.now());
    await createSecrets(namespace, [bootstrapSecret(name, data)]);
    // The host wrote its own clock: read it once the run is surely under way, not by polling
    // (each look enters the host's namespaces, and those process starts would compete with the
    // very reaction being measured on this 2-core machine).
    await sleep(500);
    let first: string | undefined;
    for (let k = 0; k < 100 && !first; k++) {
      first = (await readHostFile(h, "/var/tmp/bench-first"))?.trim();
      if (!first) await sleep(100);
    }
    if (!first) throw new Error(`no bootstrap command ran on ${h.name}`);
    reaction.push(Number(BigInt(first) - t0) / 1e6);
    await sleep(500);
  }
  return { reaction, createdAt };
}

const bed = await getTestBed();
const key = await makeKeyPair("ed25519", "bench");
// Separate hosts for each phase: a host's Node and provider ID belong to one Machine.
const count = R + P + 2;
console.log(`creating ${count} SSH hosts...`);
const hosts: TestHost[] = [];
for (let i = 0; i < count; i++) hosts.push(await createHost(`bp-${i}`, [key.publicKey]));
const ns = `bench-prov-${randomBytes(2).toString("hex")}`;
await ensureNamespace(bed.clients, ns);
const o = objects(bed, ns);
await o.apply([sshKeySecret(ns, "ssh-key", key)]);
await makeCluster(bed, ns, "c1");
let coldCtl: ControllerProcess | undefined;
const ctl = new ControllerProcess(bed, ns, "bench-prov", [
  `--log-level=${process.env.BENCH_LOG_LEVEL ?? "info"}`,
  // Scrapes cost no API requests (token reviews) in the figures.
  "--metrics-auth=none",
]);
await ctl.start();
creator = new KubeApi(bed.clients.kc);
await creator.list(KR.secrets, ns, "limit=1"); // opens the connection it keeps
// RemoteMachines are followed with a watch (the controller's informer), not by polling lists:
// the bench must not load the API server it measures.
const rmInf = new Informer<Any & KObject>(creator, KR.remoteMachines, makeLogger({ level: "error" }), {
  namespace: ns,
}).start();
await rmInf.synced;
const rmsNow = async (): Promise<Any[]> => rmInf.list();
// The machines' stand-in kubelets: each Node is registered by this process (over its kept-alive
// connection) as soon as its bootstrap is provisioned, as a kubelet registers once the bootstrap
// has started it. A `curl` on each host did it before; 50 curls (OpenSSL and some thirty
// libraries loaded at each start, about 56 ms of CPU each here) fell on the two cores while the
// last bootstraps finished, a cost that kubelets on machines of their own do not share.
const kubelets = new Map<string, string>(); // RemoteMachine -> its host's hostname, until registered
rmInf.on({
  onUpdate: (rm: Any) => {
    const hostname = kubelets.get(rm.metadata.name);
    if (!hostname || rm.status?.initialization?.provisioned !== true) return;
    kubelets.delete(rm.metadata.name);
    void (creator as KubeApi).create(KR.nodes, undefined, testNode(hostname)).catch((e: unknown) => {
      console.error(`registering Node ${hostname}: ${String(e)}`);
    });
  },
});

try {
  // The cluster's control plane first (Cluster API reads worker Nodes only after it).
  await makeMachine(
    bed,
    ns,
    "cp-0",
    "c1",
    { address: (hosts[R + P + 1] as TestHost).address, sshKeyRef: { name: "ssh-key" } },
    testBootstrap(bed),
    { controlPlane: true },
  );
  await waitAll(
    "control plane Running",
    async () => (await o.list("machines", "cluster.x-k8s.io")).some((m: Any) => m.status?.phase === "Running"),
    180_000,
  );
  // ---- Reaction
  const raw: number[] = [];
  for (const h of hosts.slice(0, R)) raw.push(await rawSshMs(h, key.privateKey));
  const rNames = hosts.slice(0, R).map((_, i) => `r-${i}`);
  await machines(bed, ns, rNames, hosts);
  await waitAll(
    "reaction machines waiting for bootstrap data",
    async () => {
      const rms = await rmsNow();
      const waiting = rms.filter((rm: Any) =>
        rm.status?.conditions?.some((c: Any) => c.type === "Ready" && /Bootstrap/.test(c.reason)),
      );
      return rNames.every((n) => waiting.some((rm: Any) => rm.metadata.name === n));
    },
    120_000,
  );
  await settle(ctl);
  const { reaction, createdAt } = await reactionRun(ns, rNames);
  const breakdown = await reactionBreakdown(ctl.logFile, ns, createdAt);

  // ---- Reaction on the cold path: the same hosts and data, but nothing waits for the data (a
  // controller of its own with warm connections off, in a namespace of its own): the Secret's
  // arrival pays the SSH handshake, the probes and the start, as a machine whose address and
  // data come at once does.
  const coldNs = `${ns}-cold`;
  await ensureNamespace(bed.clients, coldNs);
  await objects(bed, coldNs).apply([sshKeySecret(coldNs, "ssh-key", key)]);
  await makeCluster(bed, coldNs, "c1");
  coldCtl = new ControllerProcess(bed, coldNs, "bench-prov-cold", [
    "--max-warm-ssh=0",
    `--log-level=${process.env.BENCH_LOG_LEVEL ?? "info"}`,
    "--metrics-auth=none",
  ]);
  await coldCtl.start();
  await machines(bed, coldNs, rNames, hosts);
  await waitAll(
    "cold-path machines waiting for bootstrap data",
    async () =>
      (await objects(bed, coldNs).list("remotemachines")).filter((rm: Any) =>
        rm.status?.conditions?.some((c: Any) => c.type === "Ready" && /Bootstrap/.test(c.reason)),
      ).length === rNames.length,
    120_000,
  );
  await settle(coldCtl);
  const cold = (await reactionRun(coldNs, rNames)).reaction;

  // ---- Parallel + API writes
  const pHosts = hosts.slice(R, R + P);
  const one = async (names: string[], hs: TestHost[]) => {
    const writes0 = await controllerWrites(ctl);
    await machines(bed, ns, names, hs);
    // Wait until they wait for bootstrap data (the Secret is what releases them).
    await waitAll(
      "machines waiting for bootstrap data",
      async () => {
        const rms = await rmsNow();
        return names.every((n) =>
          rms.some(
            (rm: Any) =>
              rm.metadata.name === n &&
              rm.status?.conditions?.some((c: Any) => c.type === "Ready" && /Bootstrap/.test(c.reason)),
          ),
        );
      },
      120_000,
    );
    // As in the reaction run: the machines have settled while waiting (their SSH connections
    // opened ahead), as when a bootstrap provider takes its usual seconds to render the data:
    // released once the controller has written nothing for 2 s (at most 30 s).
    await settle(ctl);
    // One connection per Secret, opened beforehand: a bootstrap provider on client-go sends them
    // over its one HTTP/2 connection, while this HTTP/1.1 client would otherwise open 49 new TLS
    // connections at the release, and the figure would include its own handshakes.
    await Promise.all(names.map(() => (creator as KubeApi).list(KR.secrets, ns, "limit=1")));
    for (const [i, n] of names.entries()) kubelets.set(n, (hs[i] as TestHost).name);
    const data = testBootstrap(bed, {
      sleep: SLEEP,
      extra: "  - date +%s%N > /var/tmp/bench-done\n",
      registerNode: false,
    });
    // BENCH_PPROF=<dir>: a CPU profile of the API server over the 10 s after the release.
    profileApiServer(bed, `kube-apiserver-parallel-${names.length}`);
    const req0 = await apiServerRequests(bed);
    const t0 = nowNs();
    if (process.env.BENCH_LOG_LEVEL === "debug") console.log(`  released ${names.length} at ${Date.now()} (epoch ms)`);
    await createSecrets(
      ns,
      names.map((n) => bootstrapSecret(n, data)),
    );
    // Followed through the API (one list), not by polling 50 hosts: entering 50 namespaces four
    // times a second would take the CPU the bootstraps need. Host clocks are read once at the end.
    await waitAll(
      "bootstraps finished",
      async () => {
        const rms = await rmsNow();
        return names.every((n) =>
          rms.some((r: Any) => r.metadata.name === n && r.status?.initialization?.provisioned === true),
        );
      },
      600_000,
    );
    // Every client's requests (this bench's, Cluster API's, the controller's) until then.
    const requests = requestsBetween(req0, await apiServerRequests(bed));
    const ends = await Promise.all(
      hs.map(async (h) => BigInt(((await readHostFile(h, "/var/tmp/bench-done")) ?? "0").trim())),
    );
    // When each bootstrap's first command ran (the test bootstrap's "run <ns>" line).
    const starts = await Promise.all(
      hs.map(async (h) => {
        const line = ((await readHostFile(h, "/var/log/capi-remote-test-runs")) ?? "").trim().split("\n").pop() ?? "";
        return Number(BigInt(line.split(" ")[1] ?? "0") - t0) / 1e6;
      }),
    );
    let last = 0n; // BigInt: Math.max does not take them
    for (const e of ends) if (e > last) last = e;
    const wall = Number(last - t0) / 1e6;
    // Writes until every Machine is Running with its Node.
    await waitAll(
      "Machines Running",
      async () => {
        const ms = await o.list("machines", "cluster.x-k8s.io");
        return names.every((n) => ms.some((m: Any) => m.metadata.name === n && m.status?.phase === "Running"));
      },
      600_000,
    );
    await sleep(3000); // writes that follow Running (the last status) are counted too
    const writes = writesPer(writes0, await controllerWrites(ctl), names.length);
    const timeline = await parallelTimeline(ctl.logFile, ns, names, Number(t0 / 1_000_000n));
    return { wall, writes, requests, timeline, startP50: pct(starts, 50), startMax: pct(starts, 100) };
  };
  // Each host's Node is named after its hostname; one machine per host at a time.
  // Baseline: the same hosts, each sent the same sleep over one bare ssh2 session, all at once.
  const reactionText = `
reaction (bootstrap Secret created -> first command running on the host), ${R} machines:
  capi-remote, warm path (its connection open and waiting)
                  p50 ${pct(reaction, 50).toFixed(0)} ms   p99 ${pct(reaction, 99).toFixed(0)} ms   (target: p50 <= 100 ms, p99 <= 500 ms)
  capi-remote, cold path (no connection waiting: --max-warm-ssh=0)
                  p50 ${pct(cold, 50).toFixed(0)} ms   p99 ${pct(cold, 99).toFixed(0)} ms
  baseline (ssh2 connect + one command from this process, same hosts)
                  p50 ${pct(raw, 50).toFixed(0)} ms   p99 ${pct(raw, 99).toFixed(0)} ms
${breakdown}`;
  if (P === 0) console.log(reactionText);
  else {
    const rawT0 = performance.now();
    await Promise.all(pHosts.map((h) => rawSshRun(h, key.privateKey, `sleep ${SLEEP}`)));
    const rawParallel = performance.now() - rawT0;
    const single = await one(["single"], [hosts[R + P] as TestHost]);
    const names = pHosts.map((_, i) => `p-${i}`);
    const all = await one(names, pHosts);
    console.log(`${R ? reactionText : ""}parallel provisioning (bootstrap sleeping ${SLEEP} s):
  1 machine        ${(single.wall / 1000).toFixed(2)} s
  ${P} machines      ${(all.wall / 1000).toFixed(2)} s   = ${(all.wall / single.wall).toFixed(2)} x one machine (target <= 1.5 x)
  first command on the host after the Secrets: p50 ${all.startP50.toFixed(0)} ms, last ${all.startMax.toFixed(0)} ms
${all.timeline}  baseline: ${P} bare ssh2 sessions running the same sleep at once: ${(rawParallel / 1000).toFixed(2)} s
  API server requests, release -> all ${P} bootstraps finished (every client): ${all.requests}
API writes per machine, Machine created -> Running (controller's own requests):
  1 machine alone  ${single.writes.total.toFixed(1)}   (${single.writes.by})
  ${P} at once      ${all.writes.total.toFixed(1)}   (target <= 8)   (${all.writes.by})
`);
  }
} finally {
  rmInf.stop();
  await coldCtl?.stop();
  await ctl.stop();
  await Promise.all(hosts.map((h) => destroyHost(h).catch(() => {})));
  await bed.stop();
}
