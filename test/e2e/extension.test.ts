/// <reference lib="dom" />
/**
 * The Lens extension in a real headless Chromium, fed by the real test-bed API server through a
 * stand-in host, over objects the real controller made in a pool scenario (real CAPI manager,
 * real sshd hosts): every page and panel renders what is there (screenshots in
 * test-results/screenshots), right-click Cordon changes the object and the controller then skips
 * the machine, and Release of a stale claim frees it.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bundle } from "../../extension/build.js";
import { type Harness, proxyTo, startHarness } from "../../extension/test/standin/server.js";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { createHost, destroyHost, type TestHost } from "../bed/hosts.js";
import { canMakeHosts, REPO_ROOT } from "../bed/index.js";
import { scratchDir, waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, INFRA, makeCluster, objects, testBootstrap } from "./harness.js";

const SHOTS = join(REPO_ROOT, "test-results", "screenshots");
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";

describe("Lens extension in Chromium", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("lens");
  const hosts: TestHost[] = [];
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  let h: Harness & { boot: Record<string, string[]> };
  /** The pool machine m-one took, and the two left free. */
  let held = "";
  let free: string[] = [];

  const shot = async (name: string) => {
    await mkdir(SHOTS, { recursive: true });
    await h.page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const prm = (name: string) => o.getInfra("pooledremotemachines", name);
  /**
   * The text of an element once it matches `re`: stores load and follow watches asynchronously,
   * and on a loaded CI machine that can take a while.
   */
  const textWhen = async (selector: string, re: RegExp, timeout = 60_000) => {
    try {
      await h.page.waitForFunction(
        ([sel, src]) => new RegExp(src as string).test(document.querySelector(sel as string)?.textContent ?? ""),
        [selector, re.source],
        { timeout },
      );
    } catch (e) {
      const now = await h.page
        .locator(selector)
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => null);
      throw new Error(`${selector} never matched ${re} (it shows ${JSON.stringify(now)}): ${String(e).slice(0, 200)}`);
    }
    return (await h.page.locator(selector).first().textContent()) ?? "";
  };
  const poolMachine = (name: string, address: string, annotations: Record<string, string> = {}) => ({
    apiVersion: `${INFRA}/v1beta2`,
    kind: "PooledRemoteMachine",
    metadata: { name, annotations },
    spec: { pool: "lens", machine: { address, sshKeyRef: { name: "ssh-key" } } },
  });
  const poolRemoteMachine = (name: string) => [
    { apiVersion: `${INFRA}/v1beta2`, kind: "RemoteMachine", metadata: { name }, spec: { pool: "lens" } },
    {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "Machine",
      metadata: { name },
      spec: {
        clusterName: "c1",
        bootstrap: { dataSecretName: "boot" },
        infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
      },
    },
  ];

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    hosts.push(...(await Promise.all(["lx-a", "lx-b", "lx-c"].map((n) => createHost(n, [key.publicKey])))));
    await makeCluster(t.bed, t.ns, "c1");
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "boot", labels: { "cluster.x-k8s.io/cluster-name": "c1" } },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: testBootstrap(t.bed) },
      },
      ...hosts.map((x, i) => poolMachine(`pm-${"abc"[i]}`, x.address)),
      // A claim left behind by a RemoteMachine that is gone (its host does not answer either).
      poolMachine("pm-stale", "198.18.250.250", { [CLAIMED_BY]: "gone" }),
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachineTemplate",
        metadata: { name: "lens-tmpl" },
        spec: { template: { spec: { pool: "lens" } } },
      },
      ...poolRemoteMachine("m-one"),
    ]);
    ctl = new ControllerProcess(t.bed, t.ns, "lens");
    await ctl.start();
    await o.waitProvisioned("m-one", 90_000);
    held = (await o.rm("m-one")).metadata.annotations["remote.infrastructure.cluster.x-k8s.io/pool-machine"];
    free = ["pm-a", "pm-b", "pm-c"].filter((n) => n !== held);
    // Facts come over SSH, retried with backoff; a loaded CI machine may need a few tries.
    await waitFor(
      "facts of the three hosts",
      async () => {
        const ps = await Promise.all(["pm-a", "pm-b", "pm-c"].map((n) => prm(n)));
        if (ps.every((p) => p.status?.facts?.cpus)) return true;
        throw new Error(
          JSON.stringify(ps.map((p) => p.status?.conditions?.find((c: Any) => c.type === "FactsGathered"))),
        );
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    const dir = scratchDir("ext-");
    const js = await bundle(dir, true);
    // Stores scoped to the suite's namespace, as Lens's namespace filter does (the shared test
    // bed holds every other suite's objects too).
    h = await startHarness(js, proxyTo(t.bed.controlPlane.server, t.bed.controlPlane.token, t.bed.controlPlane.caPEM), {
      namespace: t.ns,
    });
  });
  after(async () => {
    await h?.close();
    await ctl?.stop();
    await Promise.all(hosts.map((x) => destroyHost(x)));
  });

  it("activates and registers its pages, menus, panels, menu items and status texts", () => {
    assert.deepEqual(h.boot.pages, ["capi-clusters", "capi-machines", "capi-remote-machines", "capi-pools"]);
    assert.deepEqual(h.boot.menus, ["Cluster API", "Clusters", "Machines", "Remote machines", "Pools"]);
    assert.deepEqual(h.boot.details, ["RemoteMachine", "PooledRemoteMachine", "Machine"]);
    assert.deepEqual(h.boot.menuItems, ["PooledRemoteMachine", "Cluster", "MachineDeployment"]);
    assert.deepEqual(h.boot.statusTexts, ["RemoteMachine", "PooledRemoteMachine"]);
  });

  it("Pools page: one row per pool with counts; the pool's machines with phase, holder and facts", async () => {
    await h.page.evaluate("window.__page('capi-pools')");
    const row = h.page.locator(`.capi-row[data-key="${t.ns}/lens"]`);
    await row.waitFor({ timeout: 60_000 });
    // total 4: 2 available, 1 in use, 0 cordoned, 0 quarantined (the counts follow the watch)
    await textWhen(`.capi-row[data-key="${t.ns}/lens"]`, /lens.*4.*2.*1.*0.*0.*lens-tmpl/);
    await shot("pools");
    await h.page.click(`.capi-pool-link[data-target="${t.ns}/lens"]`);
    await h.page.locator('[data-testid="pool-machines-table"]').waitFor();
    const a = await textWhen(`.capi-row[data-key="${t.ns}/${held}"]`, /InUse.*m-one.*c1.*GiB/);
    assert.match(a, /InUse/);
    assert.match(a, /m-one/, "claimed by m-one, linked to its Machine");
    assert.match(a, /c1/, "and its Cluster");
    assert.match(a, /GiB/, "facts: memory");
    const stale = await textWhen(`.capi-row[data-key="${t.ns}/pm-stale"]`, /no longer exists/);
    assert.match(stale, /no longer exists/);
    await shot("pool-lens");
  });

  it("Clusters page: the tree with the Cluster, its infrastructure and its Machines", async () => {
    await h.page.evaluate("window.__page('capi-clusters')");
    await h.page
      .locator(`section[data-cluster="c1"] tr[data-kind="Machine"][data-name="m-one"]`)
      .waitFor({ timeout: 60_000 })
      .catch(async (e: unknown) => {
        const shown = await h.page
          .locator("body")
          .textContent({ timeout: 1000 })
          .catch(() => "");
        throw new Error(`no m-one row in the tree (the page shows ${JSON.stringify(shown?.slice(0, 600))}): ${e}`);
      });
    const kinds = await h.page
      .locator(`section[data-cluster="c1"] tr`)
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.kind).filter(Boolean));
    assert.deepEqual(kinds.slice(0, 2), ["Cluster", "RemoteCluster"]);
    assert.ok(kinds.includes("Machine"));
    await shot("clusters");
  });

  it("Machines and Remote machines pages", async () => {
    await h.page.evaluate("window.__page('capi-machines')");
    const m = h.page.locator(`.capi-row[data-key="${t.ns}/m-one"]`);
    await m.waitFor({ timeout: 60_000 });
    await textWhen(`.capi-row[data-key="${t.ns}/m-one"]`, /c1.*Running.*remote-machine:\/\/.*RemoteMachine\/m-one/);
    await shot("machines");
    await h.page.evaluate("window.__page('capi-remote-machines')");
    const r = h.page.locator(`.capi-row[data-key="${t.ns}/m-one"]`);
    await r.waitFor({ timeout: 60_000 });
    const text = await textWhen(`.capi-row[data-key="${t.ns}/m-one"]`, /succeeded/);
    assert.match(text, new RegExp(`lens \\(${held}\\)`));
    assert.match(text, /succeeded \(\d+ steps\)/);
    assert.match(text, /SHA256:.*recorded on first use/);
    await shot("remote-machines");
  });

  it("detail panels: RemoteMachine, PooledRemoteMachine, and a Machine on a RemoteMachine", async () => {
    const rm = await o.rm("m-one");
    await h.page.evaluate(([obj]) => (window as Any).__details("RemoteMachine", obj), [rm]);
    const panel = h.page.locator('[data-testid="panel-remote-machine"]');
    await panel.waitFor();
    await h.page.waitForFunction(() =>
      document.querySelector('[data-testid="panel-remote-machine"]')?.textContent?.includes("Machinem-one"),
    );
    const text = (await panel.textContent()) ?? "";
    assert.match(text, /root@198\.18\.\d+\.\d+:22/);
    assert.match(text, new RegExp(`Pool machine${held}`));
    assert.match(text, /succeeded/);
    assert.match(text, /Node/);
    assert.ok(await panel.locator('tr[data-condition="Ready"]').count());
    await shot("panel-remote-machine");

    const pm = await prm(held);
    await h.page.evaluate(([obj]) => (window as Any).__details("PooledRemoteMachine", obj), [pm]);
    const p = h.page.locator('[data-testid="panel-pool-machine"]');
    await p.waitFor();
    await h.page.waitForFunction(() =>
      document.querySelector('[data-testid="panel-pool-machine"]')?.textContent?.includes("Clusterc1"),
    );
    const pt = (await p.textContent()) ?? "";
    assert.match(pt, /InUse/);
    assert.match(pt, new RegExp(`Hostnamelx-${held.slice(3)}`));
    assert.match(pt, /RemoteMachinem-one/);
    assert.ok(await p.locator('tr[data-condition="FactsGathered"]').count());
    await shot("panel-pool-machine");

    const m = await o.machine("m-one");
    await h.page.evaluate(([obj]) => (window as Any).__details("Machine", obj), [m]);
    await h.page.locator('[data-testid="panel-machine-remote"] [data-testid="panel-remote-machine"]').waitFor();
    await shot("panel-machine");
  });

  it("status texts flag pool machines and RemoteMachines in trouble", async () => {
    const stale = await prm("pm-stale");
    const s = (await h.page.evaluate(([obj]) => (window as Any).__status("PooledRemoteMachine", obj), [stale])) as Any;
    assert.equal(s?.level, 2, "a warning");
    assert.match(s.text, /no longer exists/);
    const fine = (await h.page.evaluate(
      ([obj]) => (window as Any).__status("PooledRemoteMachine", obj),
      [await prm(free[0]!)],
    )) as Any;
    assert.equal(fine ?? undefined, undefined);
  });

  it("right-click Cordon changes the object; the controller then skips that machine", async () => {
    await h.page.evaluate(([obj]) => (window as Any).__menu("PooledRemoteMachine", obj), [await prm(free[0]!)]);
    await h.page.click('.capi-menu-item[data-action="cordon"]');
    await waitFor(
      "cordoned in the API server",
      async () =>
        (await prm(free[0]!)).spec.cordoned === true
          ? true
          : Promise.reject(new Error(`not yet; host saw ${JSON.stringify(await h.page.evaluate("window.__host"))}`)),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await waitFor(
      "a notification says so",
      async () => {
        const host = (await h.page.evaluate("window.__host")) as Any;
        if (host.ok.some((m: string) => m.startsWith(`${free[0]} cordoned`))) return true;
        throw new Error(JSON.stringify({ ok: host.ok, error: host.error, retried: host.retried }));
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await waitFor(
      "Cordoned phase",
      async () => ((await prm(free[0]!)).status?.phase === "Cordoned" ? true : Promise.reject(new Error("not yet"))),
      {
        timeoutMs: 45_000,
        intervalMs: 200,
      },
    );
    await o.apply(poolRemoteMachine("m-two"));
    await waitFor(
      "m-two claims the other free machine",
      async () =>
        (await prm(free[1]!)).metadata.annotations?.[CLAIMED_BY] === "m-two"
          ? true
          : Promise.reject(new Error("not yet")),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Now the cordoned machine is the only free one: a third RemoteMachine waits instead.
    await o.apply(poolRemoteMachine("m-three"));
    await waitFor(
      "m-three waits for a pool machine",
      async () => {
        const rm = await o.rm("m-three");
        const c = o.condition(rm, "PoolMachineClaimed");
        if (c?.reason === "WaitingForPoolMachine") return c;
        throw new Error(JSON.stringify(rm.status?.conditions));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(
      (await prm(free[0]!)).metadata.annotations?.[CLAIMED_BY],
      undefined,
      "the cordoned machine was skipped",
    );
    await shot("cordoned");
  });

  it("right-click Pause and Resume on a Cluster set spec.paused, and the controller reports it", async () => {
    const cluster = async () => (await o.list("clusters", "cluster.x-k8s.io")).find((c) => c.metadata.name === "c1")!;
    await h.page.evaluate(([obj]) => (window as Any).__menu("Cluster", obj), [await cluster()]);
    await h.page.click('.capi-menu-item[data-action="pause"]');
    await waitFor(
      "c1 paused",
      async () => ((await cluster()).spec.paused === true ? true : Promise.reject(new Error("no"))),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    await waitFor(
      "m-one reports Paused",
      async () =>
        o.condition(await o.rm("m-one"), "Paused")?.status === "True" ? true : Promise.reject(new Error("no")),
      { timeoutMs: 45_000, intervalMs: 200 },
    );
    await h.page.evaluate(([obj]) => (window as Any).__menu("Cluster", obj), [await cluster()]);
    await h.page.click('.capi-menu-item[data-action="resume"]');
    await waitFor(
      "c1 resumed",
      async () => ((await cluster()).spec.paused !== true ? true : Promise.reject(new Error("no"))),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    // The notification follows the answer to the patch, which may come after the API server
    // already shows the change.
    await waitFor(
      "notifications of both",
      async () => {
        const host = (await h.page.evaluate("window.__host")) as Any;
        const ok = (re: RegExp) => host.ok.some((m: string) => re.test(m));
        if (ok(/Cluster c1 paused/) && ok(/Cluster c1 resumed/)) return true;
        throw new Error(JSON.stringify({ ok: host.ok, error: host.error, retried: host.retried }));
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });

  it("right-click Release on a stale claim explains it, and the controller frees the machine", async () => {
    await h.page.evaluate(([obj]) => (window as Any).__menu("PooledRemoteMachine", obj), [await prm("pm-stale")]);
    await h.page.click('.capi-menu-item[data-action="release"]');
    await waitFor(
      "pm-stale released",
      async () => {
        const p = await prm("pm-stale");
        if (p.metadata.annotations?.[CLAIMED_BY] !== "gone") return p;
        throw new Error(JSON.stringify(p.metadata.annotations));
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const host = (await h.page.evaluate("window.__host")) as Any;
    assert.match(host.confirms.at(-1).message, /RemoteMachine gone no longer exists/);
    assert.equal(host.confirms.at(-1).labelOk, "Clear claim");
    // Freed, it goes at once to the RemoteMachine that was waiting for the pool.
    await waitFor(
      "m-three takes pm-stale",
      async () =>
        (await prm("pm-stale")).metadata.annotations?.[CLAIMED_BY] === "m-three"
          ? true
          : Promise.reject(new Error("not yet")),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    // The Pools page follows the watch.
    await h.page.evaluate("window.__page('capi-pools')");
    await shot("released");
  });
});
