/**
 * Extension rendering (issue 5): the Pools page with 5,000 pool machines in 20 pools (opened on
 * a pool, and the pool list) and the Machines page with 5,000 Machines, in headless Chromium
 * under the stand-in host, with the production bundle. Prints, for 5,000 objects and for a
 * 50-object baseline in the same run:
 *   - first render: mounting the page with the objects already in the stores, to the first frame
 *     showing them (median of 5);
 *   - update: one object changed in its store exactly as a watch event is applied, to the changed
 *     row on screen (median of 20).
 * The objects are served from memory (no API server), so the figures are the extension's own.
 *
 * Run: npm run bench -- extension   (needs /usr/bin/chromium: test/bed/install-system-deps.sh --browser)
 */
import { bundle } from "../extension/build.js";
import { type K8sHandler, startHarness, tempDir } from "../extension/test/standin/server.js";

const INFRA = "/apis/infrastructure.cluster.x-k8s.io/v1beta2";
const CAPI = "/apis/cluster.x-k8s.io/v1beta2";

function fixtures(n: number) {
  const pools = 20;
  const prms = Array.from({ length: n }, (_, i) => ({
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "PooledRemoteMachine",
    metadata: { name: `pm-${String(i).padStart(5, "0")}`, namespace: "bench", uid: `p${i}`, resourceVersion: "1" },
    spec: {
      pool: `pool-${String(i % pools).padStart(2, "0")}`,
      machine: { address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` },
    },
    status: {
      phase: i % 3 === 0 ? "InUse" : "Available",
      facts: {
        cpus: 8,
        memory: "16318480Ki",
        architecture: "amd64",
        operatingSystem: "linux",
        osImage: "Debian GNU/Linux 13",
      },
    },
  }));
  const machines = Array.from({ length: n }, (_, i) => ({
    apiVersion: "cluster.x-k8s.io/v1beta2",
    kind: "Machine",
    metadata: {
      name: `m-${String(i).padStart(5, "0")}`,
      namespace: "bench",
      uid: `m${i}`,
      resourceVersion: "1",
      creationTimestamp: "2026-11-01T00:00:00Z",
    },
    spec: {
      clusterName: `c-${i % 50}`,
      providerID: `remote-machine://10.0.0.${i & 255}:22`,
      infrastructureRef: { kind: "RemoteMachine", name: `m-${i}` },
      version: "v1.35.4",
    },
    status: {
      phase: "Running",
      nodeRef: { name: `node-${i}` },
      conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "" }],
    },
  }));
  return { prms, machines };
}

function handler(n: number): K8sHandler {
  const f = fixtures(n);
  const lists: Record<string, unknown[]> = {
    [`${INFRA}/pooledremotemachines`]: f.prms,
    [`${CAPI}/machines`]: f.machines,
  };
  return (req, res, path) => {
    const p = path.split("?")[0] ?? "";
    res.writeHead(200, { "content-type": "application/json" });
    if (path.includes("watch=1")) {
      req.on("close", () => res.end());
      return;
    }
    res.end(JSON.stringify({ kind: "List", metadata: { resourceVersion: "1" }, items: lists[p] ?? [] }));
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** In-page: mount the page, wait until `ready()` holds; return ms to that frame. */
const MOUNT = `async ([page, readySel]) => {
  ReactDOM.unmountComponentAtNode(document.getElementById("root"));
  await new Promise((r) => requestAnimationFrame(r));
  const t0 = performance.now();
  const el = React.createElement(window.__ext.clusterPages.find((p) => p.id === page).components.Page);
  ReactDOM.render(el, document.getElementById("root"));
  for (;;) {
    if (document.querySelector(readySel)) break;
    await new Promise((r) => requestAnimationFrame(r));
  }
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - t0;
}`;

/** In-page: replace one object in its store as a watch MODIFIED event does; ms until `sel` shows `text`. */
const UPDATE = `async ([apiBase, pool, k, patch, sel, text]) => {
  const store = LensExtensions.Renderer.K8sApi.apiManager.getStore(apiBase);
  const candidates = store.items.map((o, i) => [o, i]).filter(([o]) => !pool || o.spec.pool === pool);
  const [old, index] = candidates[k % candidates.length];
  const obj = old.toPlainObject();
  const next = JSON.parse(JSON.stringify(obj));
  for (const [path, value] of patch) {
    let o = next;
    const keys = path.split(".");
    for (const k of keys.slice(0, -1)) o = o[k] ??= {};
    o[keys.at(-1)] = value;
  }
  const C = old.constructor;
  const t0 = performance.now();
  Mobx.runInAction(() => { store.items[index] = new C(next); });
  for (;;) {
    const el = document.querySelector(sel);
    if (el && el.textContent.includes(text)) break;
    if (performance.now() - t0 > 5000) throw new Error("the change did not show within 5 s: " + sel);
    await new Promise((r) => setTimeout(r, 0));
  }
  const t = performance.now() - t0;
  Mobx.runInAction(() => { store.items[index] = old; });
  await new Promise((r) => requestAnimationFrame(r));
  return t;
}`;

async function measure(n: number, js: string) {
  const h = await startHarness(js, handler(n));
  const out: Record<string, { render: number; update: number }> = {};
  try {
    const page = h.page;
    // Load the stores once (as a user opening the page does), then measure mounts with data.
    await page.evaluate("window.__page('capi-pools')");
    await page.waitForSelector(`.capi-row[data-key="bench/pool-00"]`, { timeout: 60_000 });
    await page.evaluate("window.__page('capi-machines')");
    await page.waitForSelector(`.capi-row[data-key="bench/m-00000"]`, { timeout: 60_000 });

    const run = async (
      name: string,
      pageId: string,
      readySel: string,
      update: [string, string, [string, unknown][], string, string],
    ) => {
      const renders: number[] = [];
      for (let i = 0; i < 5; i++)
        renders.push((await page.evaluate(`(${MOUNT})(${JSON.stringify([pageId, readySel])})`)) as number);
      const updates: number[] = [];
      for (let i = 0; i < 20; i++) {
        const [base, pool, patch, sel, text] = update;
        updates.push(
          (await page.evaluate(`(${UPDATE})(${JSON.stringify([base, pool, i, patch, sel, text])})`)) as number,
        );
      }
      out[name] = { render: median(renders), update: median(updates) };
    };
    // Pools list: quarantining a machine of pool-00 (every 20th object) changes that row's
    // Quarantined count (7th cell) from 0 to 1.
    await run("pools list", "capi-pools", `.capi-row[data-key="bench/pool-19"]`, [
      `${INFRA}/pooledremotemachines`,
      "pool-00",
      [["status.phase", "Quarantined"]],
      `.capi-row[data-key="bench/pool-00"] > div:nth-child(7)`,
      "1",
    ]);
    // Machines: a machine that fails moves to the top of the page.
    await run("machines", "capi-machines", `.capi-row[data-key="bench/m-00000"]`, [
      `${CAPI}/machines`,
      "",
      [
        ["status.phase", "Failed"],
        ["status.failureReason", "BenchFailure"],
      ],
      `.capi-table .capi-row`,
      "BenchFailure",
    ]);
  } finally {
    await h.close();
  }
  return out;
}

async function main() {
  const js = await bundle(await tempDir("capi-remote-bench-"), true);
  const base = await measure(50, js);
  const big = await measure(5000, js);
  console.log("page          objects   first render (ms)   update to screen (ms)");
  for (const [name, r] of Object.entries(base))
    console.log(
      `${name.padEnd(13)} ${"50".padStart(7)}   ${r.render.toFixed(1).padStart(17)}   ${r.update.toFixed(1).padStart(21)}`,
    );
  for (const [name, r] of Object.entries(big))
    console.log(
      `${name.padEnd(13)} ${"5000".padStart(7)}   ${r.render.toFixed(1).padStart(17)}   ${r.update.toFixed(1).padStart(21)}`,
    );
  const worstRender = Math.max(...Object.values(big).map((r) => r.render));
  const worstUpdate = Math.max(...Object.values(big).map((r) => r.update));
  console.log(
    `\ntargets (5,000 objects): first render ${worstRender.toFixed(1)} ms (target < 300) ${worstRender < 300 ? "MET" : "MISSED"}; ` +
      `update ${worstUpdate.toFixed(1)} ms (target < 100) ${worstUpdate < 100 ? "MET" : "MISSED"}`,
  );
}

await main();
