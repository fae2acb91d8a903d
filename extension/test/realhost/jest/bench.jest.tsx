// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * `npm run bench -- extension`, the real-host half: the Pools page (the pool list) and the
 * Machines page in Freelens 1.9.0's real renderer (jsdom), over CAPI_REALHOST_COUNT pool machines
 * and Machines that bench/extension.ts made on a real API server in namespace CAPI_REALHOST_NS.
 * Measures, as the stand-in half does:
 *   - first render: opening the page with its stores loaded (from another page), to the first
 *     render showing the objects (median of 5);
 *   - update: one object replaced in its store as Freelens applies a watch event, to the change
 *     on screen (median of 20): the extension's own part;
 *   - and, the real host only, update end to end: a status PATCH on the API server, through the
 *     watch and Freelens's store (which applies watch events in batches, once a second), to the
 *     change on screen (median of 5).
 * The host runs in the harness's 1280x800 window (harness.tsx windowOf): Freelens's virtual list
 * (the Machines page is its KubeObjectListLayout) renders the rows such a window shows, at the
 * top of the list (no scrolling), plus its overscan. The changed object is in view: on the Pools
 * page a machine of pool-00 (the first of its 20 rows) is quarantined and the row's Quarantined
 * count changes; on the Machines page m-00000 (the first row) fails and its phase shows.
 * Writes the figures as JSON to CAPI_REALHOST_BENCH_OUT. Checks nothing else.
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { writeFileSync } from "node:fs";
import * as Mobx from "mobx";
import customResourceDefinitionStoreInjectable from "../renderer/components/custom-resource-definitions/store.injectable";
import ipcRendererInjectable from "../renderer/utils/channel/ipc-renderer.injectable";
import { apiMergePatch, body, type Host, startHost, text, until } from "./harness";

const ns = process.env.CAPI_REALHOST_NS ?? "";
const INFRA = "/apis/infrastructure.cluster.x-k8s.io/v1beta2";
const CAPI = "/apis/cluster.x-k8s.io/v1beta2";
let host: Host;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pageText = (testId: string) => text(body().querySelector(`[data-testid="${testId}"]`));
const tick = () => new Promise((r) => setTimeout(r, 0));
/**
 * The text of the row the case changes. Reading it after every task is the check; reading the
 * whole page's text instead would cost jsdom a walk of every node on each check, and that cost
 * would be counted as the update's.
 */
const rowText = (c: Case) => {
  if (c.route) {
    // Freelens's own list marks no row with its object: the row whose name cell is the object's.
    const rows = body().querySelectorAll(".KubeObjectListLayout.CustomResources .TableRow");
    for (const r of rows) if (text(r.querySelector(".TableCell.name > :first-child")) === c.row) return text(r);
    return "";
  }
  const key = body().querySelector(`[data-testid="${c.testId}"] [data-key="${ns}/${c.row}"]`);
  return text(key?.closest(".TableRow, .capi-row"));
};
/** Whether the case's change is on screen, and whether it is gone again. */
const shown = (c: Case, before: string) => () => (c.marker ? rowText(c).includes(c.marker) : rowText(c) !== before);
const gone = (c: Case, before: string) => () => (c.marker ? !rowText(c).includes(c.marker) : rowText(c) === before);

beforeAll(async () => {
  host = await startHost([ns]);
}, 120_000);

/** Resolves with the ms from now until `cond` holds (checked after each task). */
async function timeUntil(
  start: number,
  cond: () => boolean,
  what: string,
  limit = 30_000,
  seen = () => "",
): Promise<number> {
  for (;;) {
    if (cond()) return performance.now() - start;
    if (performance.now() - start > limit) throw new Error(`${what}: not within ${limit} ms; shown: ${seen()}`);
    await tick();
  }
}

/**
 * With CAPI_REALHOST_PROFILE set to a folder, CPU profiles of each case's 5 first renders and 20
 * updates (`<case>[-render]-<count>.cpuprofile`, for Chromium's DevTools or a script): where the
 * time goes. The figures of a profiled run are not the bench's (profiling slows it).
 */
async function profile(name: string): Promise<{ stop(): Promise<void> }> {
  const dir = process.env.CAPI_REALHOST_PROFILE;
  if (!dir) return { stop: async () => {} };
  const { Session } = require("node:inspector");
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 200 });
  await post("Profiler.start");
  return {
    stop: async () => {
      const { profile } = await post("Profiler.stop");
      writeFileSync(
        `${dir}/${name.replace(/\W+/g, "-")}-${process.env.CAPI_REALHOST_COUNT ?? ""}.cpuprofile`,
        JSON.stringify(profile),
      );
      session.disconnect();
    },
  };
}

interface Case {
  name: string;
  page: string;
  testId: string;
  ready: string;
  apiBase: string;
  object: string;
  patch: Record<string, unknown>;
  /** The row (its data-key's name) that shows the change. */
  row: string;
  /**
   * A route of Freelens's own (the baseline): the page is the host's, opened by its route, and
   * `testId` is unused.
   */
  route?: string;
  /** Text shown only while the change is on screen; without it, any change of the row's text counts (the row must have no clock-driven text). */
  marker?: string;
}

const CASES: Case[] = [
  {
    name: "pools list",
    page: "capi-pools",
    testId: "page-pools",
    ready: "pool-00",
    apiBase: `${INFRA}/pooledremotemachines`,
    object: "pm-00000",
    patch: { phase: "Quarantined" },
    row: "pool-00",
  },
  {
    name: "machines",
    page: "capi-machines",
    testId: "page-machines",
    ready: "m-00000",
    apiBase: `${CAPI}/machines`,
    object: "m-00000",
    patch: { phase: "Failed", failureReason: "BenchFailure", failureMessage: "bench" },
    row: "m-00000",
    // Its Age column moves with the clock.
    marker: "Failed",
  },
  {
    // The baseline: Freelens's own list of the same Machines (its custom-resource page, also a
    // KubeObjectListLayout, with the columns the Machine CRD prints), over the same store.
    name: "freelens machines",
    page: "",
    route: "/crd/cluster.x-k8s.io/machines",
    testId: "",
    ready: "m-00000",
    apiBase: `${CAPI}/machines`,
    object: "m-00000",
    patch: { phase: "Failed", failureReason: "BenchFailure", failureMessage: "bench" },
    row: "m-00000",
    marker: "Failed",
  },
];

const open = async (c: Case) => {
  if (c.route) globalThis.LensExtensions.Renderer.Navigation.navigate(c.route);
  else await host.extension.navigate(c.page);
};

it("measures first render and updates of the Pools and Machines pages", async () => {
  const out: Record<string, { render: number; update: number; endToEnd: number; rows: number }> = {};
  // Load every store once (as a person opening the pages does).
  // Freelens's own custom-resource pages need its CRD store; loading it makes the cluster frame
  // ask the main process (over Electron's IPC, which the harness's electron mock lacks) to
  // refresh the cluster's accessibility.
  const ipc = host.windowDi.inject(ipcRendererInjectable);
  const invoke = ipc.invoke;
  ipc.invoke = (...args) => Promise.resolve(invoke?.apply(ipc, args));
  await host.windowDi.inject(customResourceDefinitionStoreInjectable).loadAll();
  for (const c of CASES) {
    await open(c);
    await until(() => expect(c.route ? rowText(c) : pageText(c.testId)).toMatch(c.ready), `${c.name} loaded`, 120_000);
  }
  await host.extension.navigate("capi-remote-machines");
  // A page with no objects to go to between renders (it has no title of its own: Lens's tab bar names it).
  await until(
    () => expect(body().querySelector('[data-testid="page-remote-machines"]')).toBeTruthy(),
    "remote machines",
  );

  for (const c of CASES) {
    const renders: number[] = [];
    const renderProfiler = await profile(`${c.name} render`);
    for (let i = 0; i < 5; i++) {
      await host.extension.navigate("capi-remote-machines");
      await tick();
      const t0 = performance.now();
      await open(c);
      renders.push(await timeUntil(t0, () => rowText(c) !== "", `${c.name} render`));
    }
    await renderProfiler.stop();

    // How many rows the page has in the DOM (a window shows a few dozen of the 5,000).
    const rows = body().querySelectorAll(
      c.route
        ? ".KubeObjectListLayout.CustomResources .TableRow"
        : `[data-testid="${c.testId}"] .TableRow, [data-testid="${c.testId}"] .capi-row`,
    ).length;
    const store = globalThis.LensExtensions.Renderer.K8sApi.apiManager.getStore(c.apiBase);
    const index = store.items.findIndex((o) => o.getName() === c.object);
    expect(index).toBeGreaterThanOrEqual(0);
    const updates: number[] = [];
    const profiler = await profile(c.name);
    for (let i = 0; i < 20; i++) {
      const old = store.items[index];
      const next = old.toPlainObject();
      next.status = { ...next.status, ...c.patch };
      const before = rowText(c);
      const t0 = performance.now();
      Mobx.runInAction(() => {
        store.items[index] = new old.constructor(next);
      });
      updates.push(await timeUntil(t0, shown(c, before), `${c.name} update`));
      Mobx.runInAction(() => {
        store.items[index] = old;
      });
      await timeUntil(
        performance.now(),
        gone(c, before),
        `${c.name} revert`,
        30_000,
        () => `${rowText(c)}\nbefore: ${before}`,
      );
    }

    await profiler.stop();
    const ends: number[] = [];
    const path = `${c.apiBase.replace(/\/([a-z]+)$/, `/namespaces/${ns}/$1`)}/${c.object}/status`;
    const original = Object.fromEntries(Object.keys(c.patch).map((k) => [k, store.items[index].status?.[k] ?? null]));
    for (let i = 0; i < 5; i++) {
      const before = rowText(c);
      const t0 = performance.now();
      await apiMergePatch(path, { status: c.patch });
      ends.push(await timeUntil(t0, shown(c, before), `${c.name} end to end`));
      await apiMergePatch(path, { status: original });
      await timeUntil(performance.now(), gone(c, before), `${c.name} end-to-end revert`);
    }
    out[c.name] = { render: median(renders), update: median(updates), endToEnd: median(ends), rows };
  }
  writeFileSync(process.env.CAPI_REALHOST_BENCH_OUT ?? "/dev/null", JSON.stringify(out));
}, 900_000);
