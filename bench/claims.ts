/**
 * Claim throughput (issue 4): N RemoteMachines created at once against N free pool machines, for
 * N = 50, 100, 250, 500. Prints the time until every RemoteMachine holds a machine, the
 * controller's API writes per RemoteMachine, and the same figures for a baseline run in the same
 * bed: N RemoteMachines with an address (no pool), so the difference is what claiming costs.
 *
 * SSH is kept out: fact gathering is off (--pool-facts=false) and the Machines' bootstrap Secret
 * does not exist, so every RemoteMachine stops at BootstrapSecretNotFound after its claim.
 * Cluster API is kept out too: its manager runs while the Cluster and Machines are made, then is
 * frozen (SIGSTOP) before the RemoteMachines are created (owned by their Machines from the start, as
 * Cluster API would make them). Otherwise its reconciles of hundreds of Machines saturate the
 * API server of this 2-core machine and the figures would be Cluster API's.
 *
 * Run: npm run bench -- claims   (root not needed; uses the test bed's API server and CAPI)
 */
import { randomBytes } from "node:crypto";
import { R as KR, KubeApi } from "../controller/src/kube/api.js";
import { Informer, type KObject } from "../controller/src/runtime/informer.js";
import { makeLogger } from "../controller/src/runtime/log.js";
import { getTestBed, type TestBed } from "../test/bed/index.js";
import { ensureNamespace } from "../test/bed/kube.js";
import { type Any, ControllerProcess, INFRA, makeCluster, objects } from "../test/e2e/harness.js";
import { profileApiServer } from "./lib/pprof.js";

const SIZES = (process.env.BENCH_SIZES ?? "50,100,250,500").split(",").map(Number);
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const POOL_MACHINE = "remote.infrastructure.cluster.x-k8s.io/pool-machine";
// HTTP methods as the controller's request metric records them (an Event is a POST).
const WRITE_VERBS = ["post", "put", "patch", "delete"];

const inBatches = async <T>(items: T[], size: number, fn: (x: T) => Promise<unknown>) => {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
};
const pad = (i: number) => String(i).padStart(4, "0");

interface Figures {
  n: number;
  mode: "pool" | "baseline";
  ms: number;
  /** Until every pool machine carried a claim (pool) / same as ms (baseline). */
  claimedMs: number;
  writesPerRm: number;
  byResource: Record<string, number>;
  doubleClaims: number;
}

/** The controller's write requests so far, by "verb resource" (accepted) and rejected (409 etc.). */
async function writes(c: ControllerProcess): Promise<Record<string, number>> {
  const text = await c.metricsText();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^capi_remote_api_requests_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const labels = Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (!WRITE_VERBS.includes(labels.verb ?? "")) continue;
    const ok = (labels.code ?? "").startsWith("2");
    const k = ok ? `${labels.verb} ${labels.resource}` : `rejected ${labels.verb} ${labels.resource} (${labels.code})`;
    out[k] = (out[k] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Freezes or thaws the Cluster API manager (SIGSTOP / SIGCONT): out of the way while measuring. */
function freezeCapi(bed: TestBed, frozen: boolean) {
  if (process.env.BENCH_FREEZE_CAPI === "0") return;
  if (bed.capi?.pid) process.kill(bed.capi.pid, frozen ? "SIGSTOP" : "SIGCONT");
}

async function run(bed: TestBed, n: number, mode: "pool" | "baseline"): Promise<Figures> {
  freezeCapi(bed, false);
  const ns = `bench-${mode}-${n}-${randomBytes(2).toString("hex")}`;
  await ensureNamespace(bed.clients, ns);
  const o = objects(bed, ns);
  await makeCluster(bed, ns, "c1");
  await o.apply([{ apiVersion: "v1", kind: "Secret", metadata: { name: "ssh-key" }, stringData: { value: "unused" } }]);
  const address = (i: number) => `198.18.${200 + Math.floor(i / 250)}.${(i % 250) + 1}`;
  if (mode === "pool") {
    await inBatches(
      Array.from({ length: n }, (_, i) => i),
      50,
      (i) =>
        o.apply([
          {
            apiVersion: `${INFRA}/v1beta2`,
            kind: "PooledRemoteMachine",
            metadata: { name: `pm-${pad(i)}` },
            spec: { pool: "bench", machine: { address: address(i), sshKeyRef: { name: "ssh-key" } } },
          },
        ]),
    );
  }
  // The Machines first, so the RemoteMachines can be created already owned.
  const uids = new Map<string, string>();
  await inBatches(
    Array.from({ length: n }, (_, i) => `m-${pad(i)}`),
    50,
    async (name) => {
      const [m] = (await o.apply([
        {
          apiVersion: "cluster.x-k8s.io/v1beta2",
          kind: "Machine",
          metadata: { name },
          spec: {
            clusterName: "c1",
            bootstrap: { dataSecretName: "absent" },
            infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
          },
        },
      ])) as Any[];
      uids.set(name, m?.metadata.uid);
    },
  );
  const ctl = new ControllerProcess(bed, ns, `bench-${mode}-${n}`, [
    // Scrapes cost no API requests (token reviews) in the figures.
    "--metrics-auth=none",
    "--pool-facts=false",
    `--log-level=${process.env.BENCH_LOG_LEVEL ?? "info"}`,
    ...(process.env.BENCH_CONCURRENCY ? [`--concurrency=${process.env.BENCH_CONCURRENCY}`] : []),
  ]);
  await ctl.start();
  // The Cluster's infrastructure is provisioned (our RemoteCluster, then Cluster API), then
  // Cluster API is stopped for the measurement.
  for (;;) {
    const c = (await o.list("clusters", "cluster.x-k8s.io")).find((x) => x.metadata.name === "c1");
    if (c?.status?.initialization?.infrastructureProvisioned) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  freezeCapi(bed, true);
  // Let the initial sync's work finish (every pool machine has its first status) before counting.
  for (;;) {
    if (mode === "baseline") break;
    const prms = await o.list("pooledremotemachines");
    if (prms.every((p) => p.status?.phase === "Available")) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rmDone = new Set<string>();
  const prmDone = new Set<string>();
  const prmClaimed = new Set<string>();
  let resolveDone!: (t: number) => void;
  let resolveClaimed!: (t: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const claimed = new Promise<number>((r) => (resolveClaimed = r));
  const check = () => {
    const t = Date.now();
    if (prmClaimed.size === n || (mode === "baseline" && rmDone.size === n)) resolveClaimed(t);
    if (rmDone.size === n && (mode === "baseline" || prmDone.size === n)) resolveDone(t);
  };
  // Followed with the controller's own informer (it relists and rewatches if a watch ends), not
  // by polling lists of hundreds of objects, which would load the API server.
  const follow = new KubeApi(bed.clients.kc);
  const quiet = makeLogger({ level: "error" });
  const rmInf = new Informer<Any & KObject>(follow, KR.remoteMachines, quiet, { namespace: ns });
  const prmInf = new Informer<Any & KObject>(follow, KR.pooledRemoteMachines, quiet, { namespace: ns });
  const onRm = (o: Any) => {
    const ok = o.status?.conditions?.some((c: Any) => c.type === "Ready" && c.reason === "BootstrapSecretNotFound");
    if (ok) rmDone.add(o.metadata.name);
    check();
  };
  const onPrm = (o: Any) => {
    if (o.metadata.annotations?.[CLAIMED_BY]) prmClaimed.add(o.metadata.name);
    if (o.status?.phase === "Claimed" && o.status?.machineRef?.name) prmDone.add(o.metadata.name);
    check();
  };
  rmInf.on({ onAdd: onRm, onUpdate: onRm }).start();
  prmInf.on({ onAdd: onPrm, onUpdate: onPrm }).start();
  await Promise.all([rmInf.synced, prmInf.synced]);
  const watches = [rmInf, prmInf];
  const timeout = setTimeout(() => {
    resolveDone(Number.NaN);
    resolveClaimed(Number.NaN);
  }, 300_000);
  const creator = new KubeApi(bed.clients.kc);
  await creator.list(KR.remoteMachines, ns, "limit=1"); // opens the connection it keeps
  const before = await writes(ctl);
  const start = Date.now();
  // BENCH_PPROF=<dir>: a CPU profile of the API server over the first 10 s (go tool pprof -top).
  profileApiServer(bed, `kube-apiserver-${mode}-${n}`);
  // Created as fast as this process can (50 at a time over kept-alive connections), so that
  // the figures are the controller's and not this process's.
  await inBatches(
    Array.from({ length: n }, (_, i) => `m-${pad(i)}`),
    50,
    (name) =>
      creator.create(KR.remoteMachines, ns, {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachine",
        metadata: {
          name,
          ownerReferences: [
            { apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Machine", name, uid: uids.get(name), controller: true },
          ],
        },
        spec:
          mode === "pool"
            ? { pool: "bench" }
            : { address: address(Number(name.slice(2))), sshKeyRef: { name: "ssh-key" } },
      }),
  );
  const created = Date.now() - start;
  // Done when every RemoteMachine reports the end of what it can do: claimed (pool) and waiting
  // for its bootstrap Secret; and, for pools, every pool machine's status shows its holder.
  // Followed with watches (polling lists of hundreds of objects would load the API server).
  const ms = (await done) - start;
  const claimedMs = (await claimed) - start;
  clearTimeout(timeout);
  for (const w of watches) w.stop();
  if (Number.isNaN(ms))
    throw new Error(
      `${mode} ${n}: not done after 300 s (${rmDone.size} RemoteMachines, ${prmDone.size} pool machines)`,
    );
  await new Promise((r) => setTimeout(r, 1500)); // writes still in flight are counted too
  const after = await writes(ctl);
  const byResource: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d) byResource[k] = d / n;
  }
  let doubleClaims = 0;
  if (mode === "pool") {
    const prms = await o.list("pooledremotemachines");
    const holders = prms.map((p) => p.metadata.annotations?.[CLAIMED_BY]).filter(Boolean);
    doubleClaims = holders.length - new Set(holders).size;
    const rms = await o.list("remotemachines");
    const recorded = rms.map((r) => r.metadata.annotations?.[POOL_MACHINE]).filter(Boolean);
    doubleClaims += recorded.length - new Set(recorded).size;
  }
  await ctl.stop();
  void created;
  return {
    n,
    mode,
    ms,
    claimedMs,
    writesPerRm: Object.entries(byResource)
      .filter(([k]) => !k.startsWith("rejected"))
      .reduce((a, [, b]) => a + b, 0),
    byResource,
    doubleClaims,
  };
}

async function main() {
  const rows: Figures[] = [];
  // Each size in a test bed of its own: objects left by the smaller sizes (and Cluster API's
  // catching up with them between the frozen measurements) would weigh on the larger ones.
  for (const n of SIZES) {
    const bed = await getTestBed();
    try {
      for (const mode of ["baseline", "pool"] as const) {
        const f = await run(bed, n, mode);
        rows.push(f);
        console.log(
          `${mode.padEnd(8)} n=${String(n).padStart(4)}  all done in ${String(f.ms).padStart(6)} ms  ` +
            (mode === "pool" ? `(all claimed in ${f.claimedMs} ms)  ` : "") +
            `(${((f.ms / n) * 1000).toFixed(0).padStart(6)} us per machine)  writes per RemoteMachine ${f.writesPerRm.toFixed(2)}` +
            (mode === "pool" ? `  double claims ${f.doubleClaims}` : "") +
            ` (accepted writes; rejected ones listed below)`,
        );
        console.log(
          `         ${Object.entries(f.byResource)
            .map(([k, v]) => `${k}=${v.toFixed(2)}`)
            .join("  ")}`,
        );
      }
    } finally {
      freezeCapi(bed, false);
      await bed.stop();
    }
  }
  console.log("\nclaims: pool run minus baseline run of the same size (what claiming adds)");
  console.log("     n   all claimed (ms)   all done (ms)   baseline done (ms)   writes/claim   double claims");
  for (const n of SIZES) {
    const p = rows.find((r) => r.n === n && r.mode === "pool");
    const b = rows.find((r) => r.n === n && r.mode === "baseline");
    if (!p || !b) continue;
    console.log(
      `${String(n).padStart(6)}   ${String(p.claimedMs).padStart(16)}   ${String(p.ms).padStart(13)}   ${String(b.ms).padStart(18)}   ${(p.writesPerRm - b.writesPerRm).toFixed(2).padStart(12)}   ${String(p.doubleClaims).padStart(13)}`,
    );
  }
  const big = rows.find((r) => r.mode === "pool" && r.n === Math.max(...SIZES));
  const base = rows.find((r) => r.mode === "baseline" && r.n === Math.max(...SIZES));
  if (big && base) {
    const perClaim = big.writesPerRm - base.writesPerRm;
    console.log(
      `\ntargets (n=${big.n}): all claimed in ${big.claimedMs} ms (target < 10000) ${big.claimedMs < 10_000 ? "MET" : "MISSED"}; ` +
        `${perClaim.toFixed(2)} writes per claim (target <= 3) ${perClaim <= 3 ? "MET" : "MISSED"}; ` +
        `double claims ${big.doubleClaims} ${big.doubleClaims === 0 ? "MET" : "MISSED"}`,
    );
  }
}

await main();
