/**
 * Idle cost (issue 6): the controller watching N provisioned RemoteMachines (with their Machines)
 * and N pool machines (default 2,000 each), doing nothing for 60 s: resident memory, CPU, and API
 * requests per minute (from its own request metrics). Baseline in the same run: the same
 * controller watching an empty namespace for 60 s.
 *
 * The controller runs as the image runs it (the esbuild bundle, under its ServiceAccount). The
 * RemoteMachines are created provisioned (provider ID and bootstrap-started annotation set, as
 * after a `clusterctl move`), so no SSH is involved; the pool machines' fact gathering is off.
 * Cluster API is frozen (SIGSTOP) after the Machines exist, so that the figures are ours.
 *
 * Run: npm run bench -- idle   Env: BENCH_IDLE_N (2000), BENCH_IDLE_SECONDS (60).
 */
import { randomBytes } from "node:crypto";
import { getTestBed, type TestBed } from "../test/bed/index.js";
import { ensureNamespace } from "../test/bed/kube.js";
import { type Any, bundledController, ControllerProcess, INFRA, makeCluster, objects } from "../test/e2e/harness.js";
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

const N = Number(process.env.BENCH_IDLE_N ?? 2000);
const SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const QUIET_MS = 15_000;

async function measure(bed: TestBed, n: number, entry: string) {
  freezeCapi(bed, false);
  const ns = `bench-idle-${n}-${randomBytes(2).toString("hex")}`;
  await ensureNamespace(bed.clients, ns);
  const o = objects(bed, ns);
  await makeCluster(bed, ns, "c1");
  await o.apply([{ apiVersion: "v1", kind: "Secret", metadata: { name: "ssh-key" }, stringData: { value: "x" } }]);
  const address = (i: number) => `198.18.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
  const uids = new Map<string, string>();
  await inBatches(
    Array.from({ length: n }, (_, i) => i),
    50,
    async (i) => {
      const [m] = (await o.apply([
        {
          apiVersion: "cluster.x-k8s.io/v1beta2",
          kind: "Machine",
          metadata: { name: `m-${pad(i)}` },
          spec: {
            clusterName: "c1",
            bootstrap: { dataSecretName: "absent" },
            infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name: `m-${pad(i)}` },
          },
        },
        {
          apiVersion: `${INFRA}/v1beta2`,
          kind: "PooledRemoteMachine",
          metadata: { name: `pm-${pad(i)}` },
          spec: { pool: "idle", machine: { address: address(i + 5000), sshKeyRef: { name: "ssh-key" } } },
        },
      ])) as Any[];
      uids.set(`m-${pad(i)}`, m?.metadata.uid);
    },
  );
  if (n > 0) {
    for (;;) {
      const c = (await o.list("clusters", "cluster.x-k8s.io")).find((x) => x.metadata.name === "c1");
      if (c?.status?.initialization?.infrastructureProvisioned || c?.spec?.infrastructureRef) break;
      await sleep(300);
    }
  }
  freezeCapi(bed, true);
  await inBatches(
    Array.from({ length: n }, (_, i) => i),
    50,
    (i) => o.apply([provisionedRemoteMachine(i, uids.get(`m-${pad(i)}`), address(i), "ssh-key")]),
  );
  const ctl = new ControllerProcess(bed, ns, `bench-idle-${n}`, [
    "--pool-facts=false",
    "--log-level=info",
    "--metrics-auth=none",
  ]);
  ctl.entry = entry;
  const t0 = Date.now();
  await ctl.start();
  // Settled: every RemoteMachine provisioned, every pool machine Available, and no request for
  // 15 s (progress writes are spaced up to 10 s apart: runtime/statuswriter.ts).
  let quietSince = Date.now();
  let last = (await requests(ctl)).total;
  for (;;) {
    await sleep(1000);
    const now = (await requests(ctl)).total;
    if (now !== last) quietSince = Date.now();
    last = now;
    if (Date.now() - quietSince >= QUIET_MS) break;
    if (Date.now() - t0 > 600_000) throw new Error("never settled");
  }
  const settledS = (Date.now() - t0 - QUIET_MS) / 1000;
  if (n > 0) {
    const rms = await o.list("remotemachines");
    const prov = rms.filter((r: Any) => r.status?.initialization?.provisioned === true).length;
    const prms = await o.list("pooledremotemachines");
    const avail = prms.filter((p: Any) => p.status?.phase === "Available").length;
    if (prov !== n || avail !== n) throw new Error(`not settled: ${prov} provisioned, ${avail} available`);
  }
  const pid = ctl.child?.pid as number;
  const r0 = await requests(ctl);
  const s0 = await procStat(pid);
  let rssMax = s0.rssMiB;
  const tStart = Date.now();
  while (Date.now() - tStart < SECONDS * 1000) {
    await sleep(1000);
    rssMax = Math.max(rssMax, (await procStat(pid)).rssMiB);
  }
  const s1 = await procStat(pid);
  const r1 = await requests(ctl);
  const elapsed = (Date.now() - tStart) / 1000;
  const cpuPct = ((s1.cpuTicks - s0.cpuTicks) / TICKS / elapsed) * 100;
  // The two metric scrapes of this measurement are not the controller's own traffic (they are
  // not API requests either: /metrics is served locally), so nothing to subtract.
  const perMin = ((r1.total - r0.total) / elapsed) * 60;
  const by: Record<string, number> = {};
  for (const [k, v] of Object.entries(r1.by)) if (v - (r0.by[k] ?? 0) > 0) by[k] = v - (r0.by[k] ?? 0);
  await ctl.stop();
  freezeCapi(bed, false);
  return { n, settledS, rss: s1.rssMiB, rssMax, cpuPct, perMin, by };
}

const bed = await getTestBed();
const entry = await bundledController("idle-");
try {
  const base = await measure(bed, 0, entry);
  const full = await measure(bed, N, entry);
  const row = (label: string, f: typeof base) =>
    `  ${label.padEnd(34)} RSS ${f.rss.toFixed(0).padStart(4)} MiB (max ${f.rssMax.toFixed(0)})   CPU ${f.cpuPct.toFixed(2)} % of a core   API requests ${f.perMin.toFixed(1)}/min`;
  console.log(`
idle cost over ${SECONDS} s (bundled controller, as in the image):
${row("baseline: empty namespace", base)}
${row(`${N} RemoteMachines + ${N} pool machines`, full)}
  settled ${full.settledS.toFixed(1)} s after start; requests while idle: ${JSON.stringify(full.by)}
  targets: RSS <= 200 MiB, CPU < 2 %, no per-object periodic API traffic
`);
} finally {
  freezeCapi(bed, false);
  await bed.stop();
}
