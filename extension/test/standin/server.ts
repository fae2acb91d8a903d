/**
 * Serves the stand-in host page to Chromium: the host's React/MobX globals (UMD builds from
 * node_modules), the stand-in `LensExtensions`, the extension bundle under test, and `/k8s/...`
 * answered by `k8s` (a proxy to a real API server, or an in-memory fake for benchmarks).
 * Also launches Chromium through playwright-core.
 */

import { readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { makeCA, makeServingCert } from "../../../test/bed/certs.js";
import { scratchDir } from "../../../test/bed/util.js";
import { HOST_GLOBALS } from "../../build.js";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** UMD builds of what the host provides, in load order. */
const VENDOR: [string, string][] = [
  ["react.js", "react/umd/react.production.min.js"],
  ["react-dom.js", "react-dom/umd/react-dom.production.min.js"],
  ["mobx.js", "mobx/dist/mobx.umd.production.min.js"],
  ["mobx-react-lite.js", "mobx-react-lite/dist/mobxreactlite.umd.production.min.js"],
  ["mobx-react.js", "mobx-react/dist/mobxreact.umd.production.min.js"],
];

/** The stand-in host, bundled like the extension (host modules from globals). */
export async function buildStandin(): Promise<string> {
  const out = await build({
    entryPoints: [join(here, "host.tsx")],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["chrome100"],
    write: false,
    jsx: "transform",
    jsxFactory: "React.createElement",
    jsxFragment: "React.Fragment",
    plugins: [
      {
        name: "globals",
        setup(b) {
          b.onResolve({ filter: /^(react|react-dom|mobx|mobx-react)$/ }, (a) => ({ path: a.path, namespace: "g" }));
          b.onLoad({ filter: /.*/, namespace: "g" }, (a) => ({
            contents: `module.exports = globalThis.${HOST_GLOBALS[a.path]};`,
            loader: "js",
          }));
        },
      },
    ],
    logLevel: "warning",
  });
  return out.outputFiles[0]?.text ?? "";
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>capi-remote stand-in host</title>
<style>body{margin:0;background:#1e2124;color:#ddd;font-family:sans-serif} #root{height:100vh}</style>
<script>window.global = window;</script>
${VENDOR.map(([n]) => `<script src="/vendor/${n}"></script>`).join("\n")}
<script>
  window.Mobx = window.mobx; window.MobxReact = window.mobxReact;
</script>
<script src="/standin.js"></script>
<script>var module = { exports: {} }; var exports = module.exports;</script>
<script src="/dist/renderer.js"></script>
<script>
  window.__extClass = module.exports.default;
  window.__boot = async function () {
    const ext = new window.__extClass();
    await ext.onActivate?.();
    window.__ext = ext;
    return {
      pages: ext.clusterPages.map((p) => p.id),
      menus: ext.clusterPageMenus.map((m) => m.title),
      details: ext.kubeObjectDetailItems.map((d) => d.kind),
      menuItems: ext.kubeObjectMenuItems.map((d) => d.kind),
      statusTexts: ext.kubeObjectStatusTexts.map((d) => d.kind),
    };
  };
  /** Renders a registered component into #root; resolves after the next frame. */
  window.__render = function (el) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const done = () => resolve(performance.now() - t0);
      // Never leave the caller waiting: a render whose callback does not come still resolves.
      setTimeout(done, 3000);
      try {
        ReactDOM.render(el, document.getElementById("root"), () => {
          requestAnimationFrame(done);
          setTimeout(done, 1000); // frames may be late on a loaded machine
        });
      } catch (e) {
        reject(e);
      }
    });
  };
  window.__page = (id) => window.__render(React.createElement(window.__ext.clusterPages.find((p) => p.id === id).components.Page));
  window.__details = (kind, obj) =>
    window.__render(React.createElement(window.__ext.kubeObjectDetailItems.find((d) => d.kind === kind).components.Details, { object: obj }));
  window.__menu = (kind, obj) =>
    window.__render(React.createElement("ul", null, React.createElement(window.__ext.kubeObjectMenuItems.find((d) => d.kind === kind).components.MenuItem, { object: obj, toolbar: false })));
  window.__status = (kind, obj) => window.__ext.kubeObjectStatusTexts.find((d) => d.kind === kind).resolve(obj);
</script>
</head><body><div id="root"></div></body></html>`;

export type K8sHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  path: string,
) => void;

/** A `/k8s` handler that forwards to a real API server with a bearer token. */
export function proxyTo(server: string, token: string, ca: string, opts: { hideGroups?: string[] } = {}): K8sHandler {
  return (req, res, path) => {
    if (opts.hideGroups?.some((g) => path.startsWith(`/apis/${g}/`))) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ kind: "Status", code: 404, message: "the server could not find the requested resource" }),
      );
      return;
    }
    const up = httpsRequest(
      `${server}${path}`,
      {
        method: req.method,
        ca,
        // A fresh connection per request: a reused keep-alive socket that the API server has just
        // closed fails the request ("Failed to fetch" in the page) under load.
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          ...(req.headers["content-type"] ? { "content-type": req.headers["content-type"] } : {}),
        },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, { "content-type": r.headers["content-type"] ?? "application/json" });
        r.pipe(res as NodeJS.WritableStream);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    (req as NodeJS.ReadableStream).pipe(up);
    res.on("close", () => up.destroy());
  };
}

export interface Harness {
  url: string;
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

/** Starts the server and Chromium, opens the page and activates the extension. */
export async function startHarness(
  bundlePath: string,
  k8s: K8sHandler,
  opts: { namespace?: string } = {},
): Promise<Harness & { boot: Record<string, string[]> }> {
  const standin = await buildStandin();
  const vendor = new Map<string, string>();
  for (const [name, mod] of VENDOR) vendor.set(name, await readFile(require.resolve(mod), "utf8"));
  const bundle = await readFile(bundlePath, "utf8");
  // HTTP/2 (so TLS, with a throwaway CA and certificate): a page holding a watch per kind would
  // exhaust HTTP/1.1's six connections per origin, and further requests would wait forever.
  const certDir = scratchDir("standin-");
  let tls: { key: Buffer; cert: Buffer };
  try {
    const cert = await makeServingCert(certDir, "standin", await makeCA(certDir), { ips: ["127.0.0.1"] });
    tls = { key: await readFile(cert.key), cert: await readFile(cert.cert) };
  } finally {
    // The server holds its key in memory from here; no CA or server key is left on disk.
    await rm(certDir, { recursive: true, force: true });
  }
  const server = createSecureServer({ ...tls, allowHTTP1: true }, (req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/k8s/")) return k8s(req, res, url.slice(4));
    const send = (type: string, body: string) => {
      res.writeHead(200, { "content-type": type });
      res.end(body);
    };
    if (url === "/" || url.startsWith("/?")) return send("text/html", PAGE);
    if (url === "/standin.js") return send("text/javascript", standin);
    if (url === "/dist/renderer.js") return send("text/javascript", bundle);
    const v = vendor.get(url.replace("/vendor/", ""));
    if (v) return send("text/javascript", v);
    res.writeHead(404);
    res.end();
  });
  // Open HTTP/2 sessions (watches held by the page) would keep server.close() waiting forever.
  const sessions = new Set<{ destroy(): void }>();
  server.on("session", (sess) => {
    sessions.add(sess);
    sess.on("close", () => sessions.delete(sess));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
  });
  const close = async () => {
    // Bounded: a browser that does not answer must not hold the test file until its timeout.
    await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 15_000).unref())]);
    for (const sess of sessions) sess.destroy();
    await Promise.race([
      new Promise<void>((r) => server.close(() => r())),
      new Promise((r) => setTimeout(r, 5_000).unref()),
    ]);
  };
  try {
    return { ...(await openPage(browser, port, opts)), browser, close };
  } catch (e) {
    // A harness that failed to start must not leave Chromium running (it keeps the test file
    // alive until the runner's timeout).
    await close();
    throw e;
  }
}

async function openPage(browser: Browser, port: number, opts: { namespace?: string }) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // Stores load and follow watches asynchronously; on a loaded CI machine give them time.
  page.setDefaultTimeout(60_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const failed: string[] = [];
  page.on("requestfailed", (r) => failed.push(`${new URL(r.url()).pathname}: ${r.failure()?.errorText ?? "failed"}`));
  const url = `https://127.0.0.1:${port}/${opts.namespace ? `?namespace=${encodeURIComponent(opts.namespace)}` : ""}`;
  // Test hosts being made or destroyed next door change this machine's interfaces, and Chromium
  // aborts a navigation, or one of the page's scripts (the extension's bundle included), when it
  // sees the network change: load the page again. Any other failure is the test's answer.
  for (let attempt = 1; ; attempt++) {
    failed.length = 0;
    let error: unknown;
    try {
      await page.goto(url);
      if (await page.evaluate("typeof window.__extClass === 'function'")) break;
      error = new Error(
        `the extension's bundle defined no extension class (failed requests: ${failed.join("; ") || "none"}; page errors: ${errors.join("; ") || "none"})`,
      );
    } catch (e) {
      error = e;
    }
    const networkChanged =
      String(error).includes("ERR_NETWORK_CHANGED") || failed.some((f) => f.includes("ERR_NETWORK_CHANGED"));
    if (attempt >= 5 || !networkChanged) throw error;
    await new Promise((r) => setTimeout(r, 500));
  }
  // page.evaluate has no timeout of its own: an extension that never finishes booting must fail.
  const boot = (await Promise.race([
    page.evaluate("window.__boot()"),
    new Promise((_, reject) => {
      setTimeout(() => reject(new Error(`the extension did not boot in 60 s (${errors.join("; ")})`)), 60_000).unref();
    }),
  ])) as Record<string, string[]>;
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  return { url, page, boot };
}
