/**
 * Secrets in a shared namespace (issue 17, M5): the controller in a namespace that also holds an
 * application's Secrets, as users meet it. The namespace holds N Secrets no machine names
 * (default 500 of 256 KiB each; a fifth of them Helm release records, `helm.sh/release.v1`) and
 * M provisioned RemoteMachines (default 200), each naming an SSH key Secret of its own, with a
 * Machine naming a bootstrap data Secret of its own, and a Cluster with its kubeconfig Secret.
 *
 * Cases, in one run and one bed, each a fresh controller process:
 * - baseline: the same machines in a second namespace without the unnamed Secrets;
 * - shared namespace: the controller of this tree over the namespace with them;
 * - before (BENCH_SECRETS_BEFORE, default c06f57e, the commit before the metadata-only watch;
 *   empty to skip): that commit's controller over the same shared namespace. Its bundle is built
 *   from `git archive` of that commit in a temporary folder, with this clone's dependencies.
 *
 * The controller runs as the image runs it (the esbuild bundle, under its ServiceAccount), as in
 * bench/idle.ts: the RemoteMachines are created provisioned (no SSH), Cluster API is frozen once
 * the Machines exist, and no health check probes (the addresses lead nowhere). Figures: RSS
 * (`/proc/<pid>/status`) once settled and its peak, time from start to /readyz (caches synced),
 * CPU used until settled and over an idle window, the copies of Secrets held
 * (`capi_remote_secret_copies` / `_bytes`), and its requests on Secrets (from
 * `capi_remote_api_requests_total`: `get` counts list pages and reads of one Secret alike).
 *
 * Run: npm run bench -- secrets   Env: BENCH_SECRETS_N (500), BENCH_SECRETS_KIB (256),
 * BENCH_SECRETS_MACHINES (200), BENCH_SECRETS_SECONDS (30), BENCH_SECRETS_BEFORE (c06f57e).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm, symlink } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { buildController } from "../controller/scripts/build.js";
import { getTestBed, REPO_ROOT, type TestBed } from "../test/bed/index.js";
import { ensureNamespace } from "../test/bed/kube.js";
import { scratchDir, waitFor } from "../test/bed/util.js";
import { type Any, ControllerProcess, INFRA, makeCluster, objects } from "../test/e2e/harness.js";
import {
  freezeCapi,
  inBatches,
  pad,
  procStat,
  provisionedRemoteMachine,
  requests,
  sleep,
  TICKS,
} from "./lib/controller.js";

const N = Number(process.env.BENCH_SECRETS_N ?? 500);
const KIB = Number(process.env.BENCH_SECRETS_KIB ?? 256);
const M = Number(process.env.BENCH_SECRETS_MACHINES ?? 200);
const SECONDS = Number(process.env.BENCH_SECRETS_SECONDS ?? 30);
const BEFORE = process.env.BENCH_SECRETS_BEFORE ?? "c06f57e";
const HELM = Math.floor(N / 5);
const MiB = 2 ** 20;
const run = promisify(execFile);
const load = () => loadavg()[0]?.toFixed(1) ?? "?";
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** What a machine names: its SSH key (a stand-in of a key's size) and its bootstrap data. */
function namedSecrets(i: number): Any[] {
  const cloudConfig = `#cloud-config\nwrite_files:\n- path: /etc/bench/${i}\n  content: ${randomBytes(1536).toString("base64")}\n`;
  return [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `key-${pad(i)}` },
      stringData: { value: randomBytes(1800).toString("base64") },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `bootstrap-${pad(i)}` },
      type: "cluster.x-k8s.io/secret",
      stringData: { value: cloudConfig, format: "cloud-config" },
    },
  ];
}

/** A namespace with the Cluster, M Machines and the Secrets they name; returns the Machines' UIDs. */
async function machines(bed: TestBed, ns: string): Promise<Map<number, string>> {
  await ensureNamespace(bed.clients, ns);
  const o = objects(bed, ns);
  await makeCluster(bed, ns, "c1");
  const uids = new Map<number, string>();
  await inBatches(range(M), 25, async (i) => {
    await o.apply(namedSecrets(i));
    const [m] = (await o.apply([
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name: `m-${pad(i)}` },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: `bootstrap-${pad(i)}` },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name: `m-${pad(i)}` },
        },
      },
    ])) as Any[];
    uids.set(i, m?.metadata.uid);
  });
  return uids;
}

/** The RemoteMachines, created provisioned (as after a `clusterctl move`), owned by their Machines. */
async function remoteMachines(bed: TestBed, ns: string, uids: Map<number, string>, net: number): Promise<void> {
  const o = objects(bed, ns);
  const address = (i: number) => `198.18.${net + Math.floor(i / 250)}.${(i % 250) + 1}`;
  await inBatches(range(M), 25, (i) =>
    o.apply([provisionedRemoteMachine(i, uids.get(i), address(i), `key-${pad(i)}`)]),
  );
}

/** The application's Secrets: N of KIB KiB of random data, the first fifth Helm release records. */
async function appSecrets(bed: TestBed, ns: string): Promise<number> {
  const t0 = Date.now();
  await inBatches(range(N), 4, (i) =>
    bed.clients.core.createNamespacedSecret({
      namespace: ns,
      body:
        i < HELM
          ? {
              metadata: {
                name: `sh.helm.release.v1.app-${pad(i)}.v1`,
                labels: { owner: "helm", name: `app-${pad(i)}` },
              },
              type: "helm.sh/release.v1",
              data: { release: randomBytes(KIB * 1024).toString("base64") },
            }
          : {
              metadata: { name: `app-${pad(i)}`, labels: { app: "bench" } },
              type: "Opaque",
              data: { payload: randomBytes(KIB * 1024).toString("base64") },
            },
    }),
  );
  return (Date.now() - t0) / 1000;
}

/**
 * That commit's controller bundle, built in a temporary folder from `git archive` of its
 * `controller/` and `shared/`, with this clone's installed dependencies (symlinked) and its own
 * workspace packages. A string says why it could not be built.
 */
async function buildBefore(commit: string, dir: string): Promise<string | { entry: string; note: string }> {
  const ok = await run("git", ["-C", REPO_ROOT, "cat-file", "-e", `${commit}^{commit}`]).then(
    () => true,
    () => false,
  );
  if (!ok) return `commit ${commit} is not in this clone`;
  await run("sh", ["-c", 'git -C "$1" archive "$2" controller shared | tar -x -C "$3"', "sh", REPO_ROOT, commit, dir]);
  const modules = join(dir, "node_modules");
  await mkdir(join(modules, "@capi-remote"), { recursive: true });
  for (const e of await readdir(join(REPO_ROOT, "node_modules"))) {
    if (e !== "@capi-remote" && e !== ".bin") await symlink(join(REPO_ROOT, "node_modules", e), join(modules, e));
  }
  for (const p of ["controller", "shared"]) await symlink(join("..", "..", p), join(modules, "@capi-remote", p));
  const lockSame = await run("git", [
    "-C",
    REPO_ROOT,
    "diff",
    "--quiet",
    commit,
    "HEAD",
    "--",
    "package-lock.json",
  ]).then(
    () => true,
    () => false,
  );
  const build = (await import(pathToFileURL(join(dir, "controller", "scripts", "build.ts")).href)) as {
    buildController(outfile: string): Promise<string>;
  };
  const entry = await build.buildController(join(dir, "dist", "controller.mjs"));
  return { entry, note: lockSame ? "same package-lock.json as HEAD" : "package-lock.json differs from HEAD's" };
}

/** Starts the controller; seconds from start to /readyz (caches synced), waiting past the harness's 30 s. */
async function startTimed(ctl: ControllerProcess): Promise<number> {
  const t0 = Date.now();
  try {
    await ctl.start();
  } catch (e) {
    const c = ctl.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) throw e;
    await waitFor("controller ready", async () => (await fetch(`http://127.0.0.1:${ctl.port}/readyz`)).ok, {
      timeoutMs: 600_000,
      intervalMs: 100,
    });
  }
  return (Date.now() - t0) / 1000;
}

/**
 * Waits until no request went out for 15 s (a status write that is not urgent waits up to 10 s
 * after the object's last one: runtime/statuswriter.ts); seconds from `t0` to the last request.
 */
async function settle(ctl: ControllerProcess, t0: number): Promise<number> {
  let quietSince = Date.now();
  let last = (await requests(ctl)).total;
  for (;;) {
    await sleep(1000);
    const now = (await requests(ctl)).total;
    if (now !== last) quietSince = Date.now();
    last = now;
    if (Date.now() - quietSince >= 15_000) return (quietSince - t0) / 1000;
    if (Date.now() - t0 > 600_000) throw new Error("never settled");
  }
}

interface Figures {
  label: string;
  readyS: number;
  settledS: number;
  settleCpuS: number;
  rss: number;
  peak: number;
  idleCpuPct: number;
  idlePerMin: number;
  idleBy: Record<string, number>;
  copies?: number;
  bytes?: number;
  secretGets: number;
  secretWatches: number;
  load: string;
}

async function measure(bed: TestBed, label: string, ns: string, entry: string, tag: string): Promise<Figures> {
  const loadBefore = load();
  const ctl = new ControllerProcess(bed, ns, `bench-secrets-${tag}`, [
    "--pool-facts=false",
    // Health checks on, as by default, so that each provisioned machine's pass reads its SSH
    // key; a machine's first probe is drawn in [0, interval), and with 10^9 s none comes during
    // the bench (the addresses lead nowhere).
    "--health-check-interval=1000000000",
    "--log-level=info",
    "--metrics-auth=none",
  ]);
  ctl.entry = entry;
  const t0 = Date.now();
  try {
    const readyS = await startTimed(ctl);
    const settledS = await settle(ctl, t0);
    const rms = await objects(bed, ns).list("remotemachines");
    const prov = rms.filter((r: Any) => r.status?.initialization?.provisioned === true).length;
    if (prov !== M) throw new Error(`${label}: ${prov} of ${M} RemoteMachines provisioned`);
    const pid = ctl.child?.pid as number;
    const s0 = await procStat(pid);
    const r0 = await requests(ctl);
    await sleep(SECONDS * 1000);
    const s1 = await procStat(pid);
    const r1 = await requests(ctl);
    const metrics = await ctl.metricsText();
    const has = /^capi_remote_secret_copies /m.test(metrics);
    return {
      label,
      readyS,
      settledS,
      settleCpuS: s0.cpuTicks / TICKS,
      rss: s1.rssMiB,
      peak: s1.peakMiB,
      idleCpuPct: ((s1.cpuTicks - s0.cpuTicks) / TICKS / SECONDS) * 100,
      idlePerMin: ((r1.total - r0.total) / SECONDS) * 60,
      idleBy: Object.fromEntries(
        Object.entries(r1.by)
          .map(([k, v]) => [k, v - (r0.by[k] ?? 0)] as const)
          .filter(([, v]) => v > 0),
      ),
      ...(has
        ? {
            copies: await ctl.metric("capi_remote_secret_copies"),
            bytes: await ctl.metric("capi_remote_secret_copy_bytes"),
          }
        : {}),
      secretGets: r1.by["get secrets"] ?? 0,
      secretWatches: r1.by["watch secrets"] ?? 0,
      load: `${loadBefore}-${load()}`,
    };
  } finally {
    await ctl.stop();
  }
}

function table(rows: Figures[]): string {
  const held = (f: Figures) =>
    f.copies === undefined ? "(no metric)" : `${f.copies} / ${((f.bytes ?? 0) / 1024).toFixed(0)} KiB`;
  const head =
    "| case | RSS MiB (peak) | ready s | settled s | CPU s to settle | Secrets held: copies / data | Secrets: get / watch | idle CPU % | idle requests/min | load |";
  const lines = rows.map(
    (f) =>
      `| ${f.label} | ${f.rss.toFixed(0)} (${f.peak.toFixed(0)}) | ${f.readyS.toFixed(1)} | ${f.settledS.toFixed(1)} | ${f.settleCpuS.toFixed(1)} | ${held(f)} | ${f.secretGets} / ${f.secretWatches} | ${f.idleCpuPct.toFixed(2)} | ${f.idlePerMin.toFixed(1)} | ${f.load} |`,
  );
  return [head, `|${"---|".repeat(10)}`, ...lines].join("\n");
}

const work = scratchDir("secrets-");
const bed = await getTestBed();
const suffix = randomBytes(2).toString("hex");
const quiet = `bench-secrets-quiet-${suffix}`;
const shared = `bench-secrets-shared-${suffix}`;
try {
  console.log(`load ${load()}: building the controller bundle(s)`);
  const entry = await buildController(join(work, "now", "controller.mjs"));
  let before: Awaited<ReturnType<typeof buildBefore>> = "skipped (BENCH_SECRETS_BEFORE empty)";
  if (BEFORE) {
    await mkdir(join(work, "before"));
    before = await buildBefore(BEFORE, join(work, "before")).catch((e: unknown) => `build failed: ${String(e)}`);
  }
  console.log(`load ${load()}: ${M} Machines with their Secrets in ${quiet} and ${shared}`);
  const uq = await machines(bed, quiet);
  const us = await machines(bed, shared);
  freezeCapi(bed, true);
  await remoteMachines(bed, quiet, uq, 100);
  await remoteMachines(bed, shared, us, 110);
  const madeS = await appSecrets(bed, shared);
  const data = ((N * Math.ceil((KIB * 1024) / 3) * 4) / MiB).toFixed(0);
  console.log(
    `load ${load()}: ${N} unnamed Secrets of ${KIB} KiB (${HELM} of them helm.sh/release.v1; ${data} MiB of base64 data) made in ${madeS.toFixed(1)} s`,
  );
  const rows = [await measure(bed, `baseline: ${M} machines, no other Secrets`, quiet, entry, "quiet")];
  rows.push(await measure(bed, `shared: ${M} machines + ${N} unnamed Secrets`, shared, entry, "shared"));
  if (typeof before === "string") console.log(`before (${BEFORE}): ${before}`);
  else rows.push(await measure(bed, `before (${BEFORE}): the same shared namespace`, shared, before.entry, "before"));
  console.log(`\nSecrets in a shared namespace (bundled controller, as in the image; idle window ${SECONDS} s):\n`);
  console.log(table(rows));
  for (const f of rows) if (f.idlePerMin > 0) console.log(`idle requests, ${f.label}: ${JSON.stringify(f.idleBy)}`);
  const named = M * 2 + 1;
  const pages = (n: number) => Math.ceil(n / 500);
  const opaqueMiB = (((N - HELM) * Math.ceil((KIB * 1024) / 3) * 4) / MiB).toFixed(0);
  console.log(`
${named} Secrets are named (${M} SSH keys, ${M} bootstrap data, the kubeconfig); a provisioned machine's pass reads its
SSH key and the kubeconfig, not its bootstrap data. "get" counts list pages (of 500: ${pages(named)} in the baseline's
namespace, ${pages(named + N)} in the shared one) and reads of one Secret alike. The before-case has no copy metric: its
cache holds the data of every Secret but Helm's (${named + N - HELM}, of them ${N - HELM} unnamed: ${opaqueMiB} MiB of base64)${typeof before === "string" ? "" : `; its bundle: ${before.note}`}.`);
} finally {
  freezeCapi(bed, false);
  if (!bed.owned) {
    for (const ns of [quiet, shared]) await bed.clients.core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  await bed.stop();
  await rm(work, { recursive: true, force: true });
}
