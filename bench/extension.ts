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
 * Then the same pages with the same objects in the real host: the packed extension in Freelens
 * 1.9.0's renderer (its application builder under jest/jsdom, test/freelens/), against a real
 * kube-apiserver of the bench's own (Cluster API's Machine CRD and capi-remote's CRDs, no
 * controllers) holding the objects: first render and update as above (extension/test/realhost/
 * jest/bench.jest.tsx), and the update end to end (a status PATCH on the API server to the change
 * on screen, through the watch and Freelens's store, which applies watch events once a second).
 * The real host runs with React's and MobX's production builds (NODE_ENV=production, as the
 * packaged app), in a 1280x800 window (extension/test/realhost/jest/harness.tsx windowOf):
 * Freelens's virtual list renders the rows that window shows, not all 5,000 (jsdom has no layout;
 * the count of rows in the DOM is printed). Both hosts change an object in view at the top of the
 * list: on the Pools page a machine of pool-00 (its first row), on Machines the first Machine.
 * The real host's baseline, in the same run: Freelens's own page of the same kind, its list of the
 * same Machines (the custom-resource page, also a KubeObjectListLayout, over the same store),
 * measured the same way ("freelens machines").
 *
 * Run: npm run bench -- extension   (needs /usr/bin/chromium: test/bed/install-system-deps.sh --browser,
 * and Freelens's prepared tree: extension/test/realhost/prepare.sh, made on first use)
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { bundle } from "../extension/build.js";
import { type K8sHandler, startHarness } from "../extension/test/standin/server.js";
import { type ControlPlaneInfo, startControlPlane, stopControlPlane } from "../test/bed/controlplane.js";
import { REPO_ROOT } from "../test/bed/index.js";
import { apply, clientsFor, parseYamlObjects, waitEstablished } from "../test/bed/kube.js";
import { scratchDir } from "../test/bed/util.js";
import { goModuleDir, VERSIONS } from "../test/bed/versions.js";
import { prepareFreelens, runJest } from "../test/freelens/realhost.js";

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
      machine: { address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, sshKeyRef: { name: "ssh-key" } },
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
      // Cluster API puts its finalizer on every Machine it reconciles.
      finalizers: ["machine.cluster.x-k8s.io"],
    },
    spec: {
      clusterName: `c-${i % 50}`,
      providerID: `remote-machine://10.0.0.${i & 255}:22`,
      bootstrap: { dataSecretName: `m-${i}-bootstrap` },
      infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: `m-${i}` },
      version: "v1.35.4",
    },
    status: {
      phase: "Running",
      nodeRef: { name: `node-${i}` },
      conditions: [
        { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: "2026-11-01T00:00:00Z" },
      ],
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
    // Machines: a machine that fails shows its failure reason in its row (one of the first 20,
    // all in view: the list keeps the store's order unless a column is sorted).
    await run("machines", "capi-machines", `.capi-row[data-key="bench/m-00000"]`, [
      `${CAPI}/machines`,
      "",
      [
        ["status.phase", "Failed"],
        ["status.failureReason", "BenchFailure"],
      ],
      `.capi-table`,
      "BenchFailure",
    ]);
  } finally {
    await h.close();
  }
  return out;
}

type Obj = { apiVersion: string; kind: string; metadata: Record<string, unknown>; status?: unknown };

/** A request to the bench's API server as its admin. */
function kube(
  cp: ControlPlaneInfo,
  agent: Agent,
  method: string,
  path: string,
  body?: unknown,
  type = "application/json",
) {
  return new Promise<void>((resolve, reject) => {
    const url = new URL(path, cp.server);
    const req = request(
      url,
      { method, agent, headers: { authorization: `Bearer ${cp.token}`, "content-type": type } },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d;
        });
        res.on("end", () =>
          (res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Creates the objects (and then their status) on the API server, 32 requests at a time. */
async function createAll(cp: ControlPlaneInfo, objs: Obj[]) {
  const agent = new Agent({ ca: cp.caPEM, keepAlive: true, maxSockets: 32 });
  const base = (o: Obj) => `/apis/${o.apiVersion}/namespaces/${o.metadata.namespace}/${o.kind.toLowerCase()}s`;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < objs.length; i = next++) {
      const o = objs[i] as Obj;
      const { uid: _u, resourceVersion: _r, ...metadata } = o.metadata;
      await kube(cp, agent, "POST", base(o), { ...o, metadata, status: undefined });
      await kube(
        cp,
        agent,
        "PATCH",
        `${base(o)}/${metadata.name}/status`,
        { status: o.status },
        "application/merge-patch+json",
      );
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  agent.destroy();
}

/** The Machine CRD of Cluster API and capi-remote's CRDs, served without conversion webhooks (one version is used). */
async function crds() {
  const capi = await goModuleDir("sigs.k8s.io/cluster-api", VERSIONS.capi);
  const machine = readFileSync(join(capi, "core/config/crd/bases/cluster.x-k8s.io_machines.yaml"), "utf8");
  const ours = readFileSync(join(REPO_ROOT, "deploy/install.yaml"), "utf8");
  return [...parseYamlObjects(machine), ...parseYamlObjects(ours)]
    .filter((o) => o.kind === "CustomResourceDefinition")
    .map((o) => ({ ...o, spec: { ...(o as { spec: object }).spec, conversion: { strategy: "None" } } }));
}

/** The real-host figures for n objects of each kind (see the top of this file). */
async function measureRealHost(tree: string, extDir: string, n: number) {
  const dir = scratchDir("bench-realhost-");
  const cp = await startControlPlane(dir);
  try {
    const c = clientsFor(cp.kubeconfig);
    const defs = await crds();
    await apply(c, defs);
    await waitEstablished(
      c,
      defs.map((d) => d.metadata?.name ?? ""),
    );
    await apply(c, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } }]);
    const f = fixtures(n);
    const t0 = Date.now();
    await createAll(cp, [...f.prms, ...f.machines] as Obj[]);
    console.log(
      `# real host, ${n}: made ${2 * n} objects on the API server in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    const out = join(dir, "bench.json");
    const target = JSON.stringify({ server: cp.server, token: cp.token, caPEM: cp.caPEM });
    const results = await runJest(tree, join(REPO_ROOT, "extension/test/realhost/jest"), ["bench.jest.tsx"], {
      CAPI_REALHOST_API: target,
      CAPI_REALHOST_ADMIN: target,
      CAPI_REALHOST_NS: "bench",
      CAPI_REALHOST_EXT: extDir,
      CAPI_REALHOST_BENCH_OUT: out,
      CAPI_REALHOST_COUNT: String(n),
      // React's and MobX's production builds, as the packaged Freelens runs them (jest would take
      // the development builds, which cost about a third of a Machines update: docs/performance.md).
      NODE_ENV: "production",
    });
    const failed = results.filter((r) => r.status !== "passed");
    if (failed.length || results.length === 0)
      throw new Error(`real-host bench failed: ${failed.map((r) => r.failureMessages.join("\n")).join("\n")}`);
    return JSON.parse(readFileSync(out, "utf8")) as Record<
      string,
      { render: number; update: number; endToEnd: number; rows: number }
    >;
  } finally {
    await stopControlPlane(cp);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The packed extension, unpacked (as Freelens installs it). */
async function packed(): Promise<{ dir: string; cleanup(): void }> {
  const run = promisify(execFile);
  const scratch = scratchDir("bench-ext-");
  const { stdout } = await run("npm", ["run", "pack", "-w", "extension", "--", "--out", scratch], { cwd: REPO_ROOT });
  const tgz = /packed (\S+\.tgz)/.exec(stdout)?.[1];
  if (!tgz) throw new Error(`npm run pack printed no tarball: ${stdout}`);
  const dir = join(scratch, "extension");
  mkdirSync(dir);
  await run("tar", ["xzf", tgz, "-C", dir, "--strip-components=1"]);
  return { dir, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}

async function main() {
  // BENCH_EXTENSION_HOST=realhost (or standin) measures one host only.
  const only = process.env.BENCH_EXTENSION_HOST;
  if (only === "realhost") return realHost({}, {});
  const js = await bundle(scratchDir("bench-"), true);
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
    `\nstand-in targets (5,000 objects): first render ${worstRender.toFixed(1)} ms (target < 300) ${worstRender < 300 ? "MET" : "MISSED"}; ` +
      `update ${worstUpdate.toFixed(1)} ms (target < 100) ${worstUpdate < 100 ? "MET" : "MISSED"}`,
  );

  if (only !== "standin") await realHost(base, big);
}

type Figures = Record<string, { render: number; update: number }>;

/** The real-host case that is Freelens's own page (extension/test/realhost/jest/bench.jest.tsx). */
const BASELINE = "freelens machines";

async function realHost(base: Figures, big: Figures) {
  const [tree, ext] = await Promise.all([prepareFreelens(), packed()]);
  try {
    const realBase = await measureRealHost(tree, ext.dir, 50);
    const realBig = await measureRealHost(tree, ext.dir, 5000);
    console.log(
      "\nreal host (Freelens 1.9.0 renderer under jsdom, React's production build, 1280x800 window, real API server) beside the stand-in (Chromium, objects from memory)",
    );
    console.log(
      "page              objects   first render: real / stand-in (ms)   update: real / stand-in (ms)   update end to end, real (ms)   rows in the DOM, real",
    );
    for (const [n, real, standin] of [
      [50, realBase, base],
      [5000, realBig, big],
    ] as const)
      for (const [name, r] of Object.entries(real)) {
        const s = standin[name];
        console.log(
          `${name.padEnd(17)} ${String(n).padStart(7)}   ${`${r.render.toFixed(1)} / ${s?.render.toFixed(1) ?? "-"}`.padStart(33)}   ${`${r.update.toFixed(1)} / ${s?.update.toFixed(1) ?? "-"}`.padStart(27)}   ${r.endToEnd.toFixed(0).padStart(28)}   ${String(r.rows).padStart(20)}`,
        );
      }
    // The baseline: Freelens's own list of the same Machines, over the same store, in the same run.
    for (const [n, real] of [
      [50, realBase],
      [5000, realBig],
    ] as const) {
      const ours = real.machines;
      const host = real[BASELINE];
      if (ours && host)
        console.log(
          `baseline, ${n} Machines: Freelens's own list ${host.render.toFixed(1)} ms first render / ${host.update.toFixed(1)} ms update; ` +
            `ours ${ours.render.toFixed(1)} / ${ours.update.toFixed(1)} ms (${(ours.render - host.render).toFixed(1)} / ${(ours.update - host.update).toFixed(1)} ms over the host's)`,
        );
    }
    const mine = (f: typeof realBig) =>
      Object.entries(f)
        .filter(([name]) => name !== BASELINE)
        .map(([, r]) => r);
    const rr = Math.max(...mine(realBig).map((r) => r.render));
    const ru = Math.max(...mine(realBig).map((r) => r.update));
    const re = Math.max(...mine(realBig).map((r) => r.endToEnd));
    console.log(
      `\nreal-host targets (5,000 objects): first render ${rr.toFixed(1)} ms (target < 300) ${rr < 300 ? "MET" : "MISSED"}; ` +
        `update ${ru.toFixed(1)} ms (target < 100) ${ru < 100 ? "MET" : "MISSED"}; ` +
        `end to end ${re.toFixed(0)} ms (includes Freelens's 1 s batching of watch events)`,
    );
  } finally {
    ext.cleanup();
  }
}

await main();
