/**
 * Smoke test of the shipped bundle: `npm run pack` output (dist/renderer.js inside the tarball's
 * package) loaded in headless Chromium under the stand-in host. It activates, registers its
 * pages, panels and menu items, and a page renders; with capi-remote's CRDs absent the pages say
 * what to install. No API server: `/k8s` answers from memory here.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Harness, type K8sHandler, startHarness } from "../../extension/test/standin/server.js";
import { REPO_ROOT } from "../bed/index.js";
import { scratchDir } from "../bed/util.js";

/** Empty lists for Cluster API kinds; capi-remote's group is not served (CRDs not installed). */
const fakeK8s: K8sHandler = (req, res, path) => {
  const p = path.split("?")[0] ?? "";
  if (p.startsWith("/apis/infrastructure.cluster.x-k8s.io/")) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", code: 404, message: "the server could not find the requested resource" }));
    return;
  }
  if (path.includes("watch=1")) {
    res.writeHead(200, { "content-type": "application/json" });
    req.on("close", () => res.end());
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "List", metadata: { resourceVersion: "1" }, items: [] }));
};

describe("the shipped extension bundle", () => {
  let h: Harness & { boot: Record<string, string[]> };
  let pkg: Record<string, unknown>;

  before(async () => {
    const out = scratchDir("pack-");
    // Build and pack exactly as a release would, then unpack the tarball.
    const printed = execFileSync("npx", ["tsx", "build.ts", "--pack", "--out", out], {
      cwd: join(REPO_ROOT, "extension"),
      encoding: "utf8",
    });
    const tgz = /packed (\S+\.tgz)/.exec(printed)?.[1];
    assert.ok(tgz, `build.ts --pack printed no tarball: ${printed}`);
    execFileSync("tar", ["-xzf", tgz, "-C", out]);
    pkg = JSON.parse(readFileSync(join(out, "package", "package.json"), "utf8")) as Record<string, unknown>;
    h = await startHarness(join(out, "package", String(pkg.renderer)), fakeK8s);
  });
  after(async () => {
    await h?.close();
  });

  it("the tarball's package.json is what Lens and Freelens load", () => {
    assert.equal(pkg.renderer, "dist/renderer.js");
    assert.deepEqual(pkg.engines, { lens: "^6.5.0", freelens: "^1.3.0" });
    assert.equal(pkg.dependencies, undefined, "everything is bundled");
    assert.equal(pkg.type, undefined, "CommonJS, as the hosts require() it");
  });

  it("activates and registers its pages, panels and menu items", () => {
    assert.equal(h.boot.pages?.length, 4);
    assert.equal(h.boot.menus?.[0], "Cluster API");
    assert.deepEqual(h.boot.details, ["RemoteMachine", "PooledRemoteMachine", "Machine"]);
    assert.ok(h.boot.menuItems?.includes("PooledRemoteMachine"));
  });

  it("a page renders; without capi-remote's CRDs it says what to install", async () => {
    await h.page.evaluate("window.__page('capi-pools')");
    const empty = h.page.locator('[data-testid="empty-state"]');
    await empty.waitFor({ timeout: 10_000 });
    assert.match(
      (await empty.textContent()) ?? "",
      /capi-remote not installed.*clusterctl init --infrastructure remote/,
    );
    await h.page.evaluate("window.__page('capi-clusters')");
    await h.page.waitForFunction(() =>
      document.querySelector('[data-testid="empty-state"]')?.textContent?.includes("No Clusters"),
    );
  });
});
