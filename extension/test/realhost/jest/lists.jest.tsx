// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * The Machines, Remote machines and pool-machine lists on Freelens 1.9.0's own list layout
 * (KubeObjectListLayout over the extension's stores) against the test bed's real API server, over
 * the objects test/freelens/realhost.test.ts made in CAPI_REALHOST_NS (and a pool of its own): the count, search, sort,
 * namespace filter, the warning column, the row opening the drawer, and the row menu carrying the
 * same menu items as the drawer toolbar (a Cordon from it reaches the API server).
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { act, fireEvent } from "@testing-library/react";
import * as Mobx from "mobx";
import selectedNamespacesStorageInjectable from "../features/namespace-filtering/renderer/storage.injectable";
import customResourceDefinitionStoreInjectable from "../renderer/components/custom-resource-definitions/store.injectable";
import ipcRendererInjectable from "../renderer/utils/channel/ipc-renderer.injectable";
import {
  $,
  $$,
  adminRequest,
  apiGetJson,
  click,
  confirmDialog,
  eventually,
  type Host,
  notification,
  requests,
  startHost,
  text,
  until,
} from "./harness";

const CAPI = `/apis/cluster.x-k8s.io/v1beta2/namespaces/${process.env.CAPI_REALHOST_NS ?? ""}`;

const ns = process.env.CAPI_REALHOST_NS ?? "";
const INFRA = `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${ns}`;
let host: Host;

/**
 * A pool of this file's own (the other files change pool "lens"'s machines, and jest may run them
 * in any order): a free machine and one claimed by a RemoteMachine that does not exist.
 */
const POOL = "lists";
const poolMachine = (name: string, address: string, claimedBy?: string) => ({
  apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
  kind: "PooledRemoteMachine",
  metadata: {
    name,
    namespace: ns,
    ...(claimedBy ? { annotations: { "remote.infrastructure.cluster.x-k8s.io/claimed-by": claimedBy } } : {}),
  },
  spec: { pool: POOL, machine: { address, sshKeyRef: { name: "ssh-key" } } },
});

beforeAll(async () => {
  for (const o of [poolMachine("pl-free", "198.18.10.1"), poolMachine("pl-stale", "198.18.10.2", "vanished")])
    await adminRequest("POST", `${INFRA}/pooledremotemachines`, o);
  host = await startHost([ns]);
}, 120_000);

const list = async (pageId: string, testId: string) => {
  await host.extension.navigate(pageId);
  return until(() => {
    const el = $(`.KubeObjectListLayout[data-testid="${testId}"]`);
    if (!el) throw new Error(`no list ${testId}: ${text($("main")).slice(0, 300)}`);
    return el;
  }, `list ${testId}`);
};

const rowOf = (root: Element, name: string) => $(`[data-key="${ns}/${name}"]`, root)?.closest(".TableRow") ?? null;

it("lists Machines on Lens's list layout: count, search box, namespace filter, sortable columns, no repeated title", async () => {
  const l = await list("capi-machines", "machines-table");
  await until(() => expect(rowOf(l, "m-one")).toBeTruthy(), "m-one row");
  // As many as the API server holds (Cluster API may have made and removed md1's Machines).
  await eventually(async () => {
    const n = (await apiGetJson(`${CAPI}/machines`)).body.items.length;
    expect(text($(".header .info-panel", l))).toBe(n === 1 ? "1 item" : `${n} items`);
    expect($$(".TableRow [data-key]", l).length).toBe(n);
  }, "item count");
  expect($('.header input[placeholder="Search machines..."]', l)).toBeTruthy();
  expect($("#kube-object-list-layout-namespace-select-input", l)).toBeTruthy();
  // A sortable title ends in its sort icon's name.
  const heads = $$(".TableHead .TableCell", l).map((c) => text(c).replace(/arrow_drop_(down|up)$/, ""));
  expect(heads).toEqual(expect.arrayContaining(["Name", "Namespace", "Cluster", "Phase", "Node"]));
  expect($$(".TableHead .TableCell.sorting", l).length).toBeGreaterThanOrEqual(5);
  expect(text(rowOf(l, "m-one"))).toMatch(/c1/);
  // Lens's tab bar names the page; the page has no heading of its own.
  expect($$('[data-testid="page-machines"] h2').length).toBe(0);
});

it("opens the drawer from a row, and the Remote machines list shows its rows", async () => {
  const l = await list("capi-remote-machines", "remote-machines-table");
  const row = await until(
    () =>
      rowOf(l, "m-one") ??
      (() => {
        throw new Error("no row");
      })(),
    "row",
  );
  await click(row);
  await until(() => expect(text($(".Drawer .drawer-title"))).toMatch(/RemoteMachine: m-one/), "drawer");
  expect($$(".TableHead .TableCell", l).map((c) => text(c).replace(/arrow_drop_(down|up)$/, ""))).toContain("Warning");
});

it("searches a pool's machines and shows a stale claim's warning in the list", async () => {
  await host.extension.navigate("capi-pools");
  // The pools table re-renders its rows on every watch event: find and click in one go.
  const l = await until(() => {
    const list = $('.KubeObjectListLayout[data-testid="pool-machines-table"]');
    if (list) return list;
    const link = $(`.capi-pool-link[data-target="${ns}/${POOL}"]`);
    if (link) fireEvent.click(link);
    throw new Error(link ? "clicked the pool, no list yet" : "no pool link");
  }, "pool list");
  // The count is the pool's, not the store's (which holds pool "lens" too).
  await until(() => expect(text($(".header .info-panel", l))).toBe("2 items"), "2 machines");
  await until(
    () => expect(text($('[data-testid="capi-warning"]', rowOf(l, "pl-stale")))).toMatch(/vanished no longer exists/),
    "warning",
  );
  expect($('[data-testid="capi-warning"]', rowOf(l, "pl-free"))).toBeNull();
  const search = $('.header input[placeholder="Search pool machines..."]', l);
  expect(search).toBeTruthy();
  await act(async () => {
    fireEvent.change(search, { target: { value: "198.18.10.2" } });
  });
  await until(() => {
    expect(rowOf(l, "pl-stale")).toBeTruthy();
    expect(rowOf(l, "pl-free")).toBeNull();
  }, "search by address");
  await act(async () => {
    fireEvent.change(search, { target: { value: "" } });
  });
});

it("cordons from a row's menu: the same menu item as the drawer toolbar, through the API server", async () => {
  const l = $('.KubeObjectListLayout[data-testid="pool-machines-table"]');
  const row = await until(
    () =>
      rowOf(l, "pl-free") ??
      (() => {
        throw new Error("no pl-free row");
      })(),
    "pl-free",
  );
  const trigger = $('[data-testid^="icon-for-menu-actions-for-kube-object-menu-for-"]', row);
  expect(trigger).toBeTruthy();
  await click(trigger);
  const item = await until(() => {
    const el = $$('.Menu.MenuActions:not(.toolbar) [data-action="cordon"]').at(-1);
    if (!el) throw new Error(`no cordon item; menus: ${$$(".Menu").map(text).join(" | ")}`);
    return el;
  }, "row menu");
  await click(item.closest(".MenuItem"));
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pl-free`);
    expect(pm.body.spec.cordoned).toBe(true);
  }, "pl-free cordoned in the API server");
});

it("offers Uncordon instead of Cordon in the row menu of the cordoned machine, as an icon with a title, and uncordons from it", async () => {
  const l = $('.KubeObjectListLayout[data-testid="pool-machines-table"]');
  const menu = async () => {
    await click($('[data-testid^="icon-for-menu-actions-for-kube-object-menu-for-"]', rowOf(l, "pl-free")));
    return until(() => {
      const m = $$(".Menu.MenuActions:not(.toolbar)").at(-1);
      // The store applies the cordon's watch event within a second; until then the menu offers Cordon.
      if (!m?.querySelector('[data-action="uncordon"]')) throw new Error(`menu: ${text(m)}`);
      return m;
    }, "row menu with uncordon");
  };
  const m = await menu();
  const item = m.querySelector('[data-action="uncordon"]').closest(".MenuItem");
  expect(item.querySelector('.Icon [data-icon-name="play_circle_outline"]')).toBeTruthy();
  expect(text(item.querySelector(".title"))).toBe("Uncordon");
  // An unclaimed machine has nothing to release.
  expect(m.querySelector('[data-action="cordon"], [data-action="release"]')).toBeNull();
  await click(m.querySelector('[data-action="uncordon"]').closest(".MenuItem"));
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pl-free`);
    expect(pm.body.spec.cordoned ?? false).toBe(false);
  }, "pl-free uncordoned in the API server");
});

/**
 * Opens the row menu of `name` in list `l`; returns the menu once it holds `action` (with a title
 * matching `title`, if given). A menu opened before the list had the object's last change is
 * closed and opened again.
 */
async function rowMenu(l: Element, name: string, action: string, title?: RegExp) {
  let toggled = 0;
  return until(() => {
    const row = rowOf(l, name) ?? $$(".TableRow", l).find((x) => text(x).includes(name));
    if (!row) throw new Error(`no ${name} row: ${text(l).slice(0, 300)}`);
    const icon = $('[data-testid^="icon-for-menu-actions-for-kube-object-menu-for-"]', row);
    const open = $$(".Menu.MenuActions:not(.toolbar):not(.leave)").at(-1);
    const item = open?.querySelector(`[data-action="${action}"]`);
    if (item && (!title || title.test(text(item.closest(".MenuItem")?.querySelector(".title"))))) return open;
    // Toggles the menu (closes a stale one, opens a fresh one), at most twice a second: the
    // check also runs on every change of the DOM, and a menu takes a moment to open.
    if (Date.now() - toggled > 500) {
      toggled = Date.now();
      act(() => {
        fireEvent.click(icon);
      });
    }
    throw new Error(`no ${action} in the menu of ${name}: ${text(open)}`);
  }, `row menu of ${name} with ${action}`);
}

/** The menu item `action` of menu `m`, checked to be an icon with its title (as Lens's own items). */
function menuItem(m: Element, action: string, icon: string, title: RegExp) {
  const item = m.querySelector(`[data-action="${action}"]`).closest(".MenuItem");
  expect(item.querySelector(`.Icon [data-icon-name="${icon}"]`)).toBeTruthy();
  expect(text(item.querySelector(".title"))).toMatch(title);
  return item;
}

it("releases from a row's menu, through the ConfirmDialog, to the API server", async () => {
  // The pool's page, where the tests before left it (else opened from the Pools page).
  const table = await until(() => {
    const l = $('.KubeObjectListLayout[data-testid="pool-machines-table"]');
    if (l) return l;
    const link = $(`.capi-pool-link[data-target="${ns}/${POOL}"]`);
    if (link) fireEvent.click(link);
    else void host.extension.navigate("capi-pools");
    throw new Error(link ? "clicked the pool, no list yet" : "no pool link");
  }, "pool list");
  const m = await rowMenu(table, "pl-stale", "release");
  await click(menuItem(m, "release", "logout", /^Release$/));
  const dialog = await confirmDialog();
  expect(text(dialog.querySelector(".capi-confirm-title"))).toBe("Release pl-stale");
  await click([...dialog.querySelectorAll("button")].find((b) => /Clear claim/.test(text(b))));
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pl-stale`);
    expect(pm.body.metadata.annotations?.["remote.infrastructure.cluster.x-k8s.io/release"]).toBeTruthy();
  }, "release annotation on pl-stale");
});

it("pauses, resumes and scales from the row menus of Freelens's own lists of Clusters and MachineDeployments, through the ConfirmDialog, the API server and a notification", async () => {
  // Loading the CRDs makes the cluster frame ask the main process (over Electron's IPC, which the
  // harness's electron mock lacks) to refresh the cluster's accessibility.
  const ipc = host.windowDi.inject(ipcRendererInjectable);
  const invoke = ipc.invoke;
  ipc.invoke = (...args) => Promise.resolve(invoke?.apply(ipc, args));
  // The extension's Clusters page makes and loads its stores of Clusters and MachineDeployments,
  // which Freelens's own lists of those kinds then use (the API manager has one store per kind).
  await host.extension.navigate("capi-clusters");
  await until(() => expect(text($('[data-testid="page-clusters"]'))).toMatch(/md1/), "clusters page");
  const crds = host.windowDi.inject(customResourceDefinitionStoreInjectable);
  await crds.loadAll();
  const freelensList = async (plural: string, name: string) => {
    globalThis.LensExtensions.Renderer.Navigation.navigate(`/crd/cluster.x-k8s.io/${plural}`);
    return until(() => {
      const el = $(".KubeObjectListLayout.CustomResources");
      if (!el || !text(el).includes(name)) throw new Error(`no ${plural} list with ${name}: ${text(el).slice(0, 200)}`);
      return el;
    }, `Freelens's ${plural} list`);
  };
  const confirm = async (title: RegExp, button: RegExp) => {
    const dialog = await confirmDialog();
    expect(text(dialog.querySelector(".capi-confirm-title"))).toMatch(title);
    await click([...dialog.querySelectorAll("button")].find((b) => button.test(text(b).trim())));
  };
  const spec = async (path: string) => (await apiGetJson(`${CAPI}/${path}`)).body.spec;

  // Pause, confirmed; then Resume from the same row's menu once the list shows it paused (no question).
  expect((await spec("clusters/c1")).paused ?? false).toBe(false);
  let l = await freelensList("clusters", "c1");
  await click(menuItem(await rowMenu(l, "c1", "pause"), "pause", "pause", /^Pause$/));
  await confirm(/^Pause Cluster c1$/, /^Pause$/);
  await eventually(async () => expect((await spec("clusters/c1")).paused).toBe(true), "c1 paused in the API server");
  await notification(/Cluster c1 paused/);
  const asked = $$(".capi-confirm").length;
  await click(menuItem(await rowMenu(l, "c1", "resume"), "resume", "play_arrow", /^Resume$/));
  await eventually(
    async () => expect((await spec("clusters/c1")).paused ?? false).toBe(false),
    "c1 resumed in the API server",
  );
  await notification(/Cluster c1 resumed/);
  expect($$(".capi-confirm").length).toBe(asked);

  // Scale down, confirmed (it deletes a Machine); then back up from the row menu (no question).
  const replicas = (await spec("machinedeployments/md1")).replicas;
  expect(replicas).toBeGreaterThan(0);
  l = await freelensList("machinedeployments", "md1");
  await click(
    menuItem(
      await rowMenu(l, "md1", "scale-down"),
      "scale-down",
      "remove_circle_outline",
      new RegExp(`^Scale to ${replicas - 1}$`),
    ),
  );
  await confirm(new RegExp(`^Scale md1 down to ${replicas - 1}$`), new RegExp(`^Scale to ${replicas - 1}$`));
  await eventually(
    async () => expect((await spec("machinedeployments/md1")).replicas).toBe(replicas - 1),
    "md1 scaled down in the API server",
  );
  await notification(new RegExp(`md1 scaled from ${replicas} to ${replicas - 1}`));
  await click(
    menuItem(
      await rowMenu(l, "md1", "scale-up", new RegExp(`^Scale to ${replicas}$`)),
      "scale-up",
      "add_circle_outline",
      new RegExp(`^Scale to ${replicas}$`),
    ),
  );
  await eventually(
    async () => expect((await spec("machinedeployments/md1")).replicas).toBe(replicas),
    "md1 scaled back up in the API server",
  );
  await notification(new RegExp(`md1 scaled from ${replicas - 1} to ${replicas}`));
  expect($$(".capi-confirm").length).toBe(asked);
});

it("follows the namespace filter: another namespace lists that one only, and back", async () => {
  await list("capi-machines", "machines-table");
  const rows = () => $$('.KubeObjectListLayout[data-testid="machines-table"] .TableRow [data-key]');
  await until(() => expect(rows().length).toBeGreaterThan(0), "machines shown");
  host.builder.namespaces.add("default");
  const storage = host.windowDi.inject(selectedNamespacesStorageInjectable);
  const before = requests.length;
  Mobx.runInAction(() => storage.set(["default"]));
  await until(() => {
    expect(rows()).toEqual([]);
    // Listed again, in the namespace now selected.
    expect(
      requests
        .slice(before)
        .some((r) => /^get \/apis\/cluster\.x-k8s\.io\/v1beta2\/namespaces\/default\/machines/i.test(r)),
    ).toBe(true);
  }, "only namespace default");
  // The Pools page, not a list of one kind, follows the same filter.
  await host.extension.navigate("capi-pools");
  await until(
    () => expect($(`.capi-pool-link[data-target="${ns}/lens"]`)).toBeNull(),
    "no pools of the test namespace",
  );
  Mobx.runInAction(() => storage.set([ns]));
  await until(
    () => expect($(`.capi-pool-link[data-target="${ns}/lens"]`)).toBeTruthy(),
    "the test namespace's pool again",
  );
  await list("capi-machines", "machines-table");
  await until(() => expect(rows().map((r) => r.getAttribute("data-key"))).toContain(`${ns}/m-one`), "m-one again");
});
