// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * The packed extension in Freelens 1.9.0's real renderer against the test bed's real API server
 * (real Cluster API manager, capi-remote's CRDs), over the objects test/freelens/realhost.test.ts
 * made in namespace CAPI_REALHOST_NS.
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import {
  $,
  $$,
  adminRequest,
  apiGetJson,
  apiMergePatch,
  click,
  confirmDialog,
  eventually,
  type Host,
  keep,
  notification,
  requests,
  startHost,
  text,
  until,
} from "./harness";

const ns = process.env.CAPI_REALHOST_NS ?? "";
const INFRA = `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${ns}`;
const CAPI = `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}`;
let host: Host;

beforeAll(async () => {
  host = await startHost([ns]);
}, 120_000);

const openPage = async (id: string, testId: string) => {
  await host.extension.navigate(id);
  return until(() => {
    const el = $(`[data-testid="${testId}"]`);
    if (!el) throw new Error(`page ${testId} not shown`);
    return el;
  }, `page ${id}`);
};

const showDetails = async (selfLink: string, panel: string) => {
  globalThis.LensExtensions.Renderer.Navigation.showDetails(selfLink);
  return until(() => {
    const el = $(`.Drawer [data-testid="${panel}"]`);
    if (!el) throw new Error(`no ${panel} in the drawer`);
    return el;
  }, `drawer ${selfLink}`);
};

const openDrawer = async (selfLink: string, title: RegExp) => {
  globalThis.LensExtensions.Renderer.Navigation.showDetails(selfLink);
  return until(() => expect(text($(".Drawer .drawer-title"))).toMatch(title), `drawer ${selfLink}`);
};

/** The menu items our extension put into the drawer's toolbar. */
const toolbarItem = (action: string) => $(`.Drawer .drawer-title [data-action="${action}"]`);
/** Clicks a toolbar item once the drawer shows it (the store may still be applying a watch event). */
const clickToolbar = async (action: string) =>
  click(
    await until(() => {
      const el = toolbarItem(action);
      if (!el) throw new Error(`no ${action} item; toolbar: ${text($(".Drawer .drawer-title"))}`);
      return el;
    }, `${action} item`),
  );

/**
 * The drawer names the object's namespace once, in Lens's own meta block above our panel (as
 * Freelens's own detail panels leave it there): one "Namespace" row, and the namespace's text
 * once in the whole drawer (tooltips are Freelens's real ones here, which render only on hover).
 */
const namespaceShownOnce = () => {
  const drawer = $(".Drawer .drawer-content");
  const rows = [...drawer.querySelectorAll(".DrawerItem > .name")].filter((n) => text(n).trim() === "Namespace");
  expect(rows.length).toBe(1);
  expect(text(drawer).split(ns).length - 1).toBe(1);
};

it("puts Cluster API with its four pages into the cluster sidebar", async () => {
  const parent = await until(() => {
    const link = $$('[data-testid="cluster-sidebar"] [data-testid^="link-for-"]').find(
      (l) => text(l.querySelector(":scope > span")) === "Cluster API",
    );
    if (!link) throw new Error(`sidebar: ${text($('[data-testid="cluster-sidebar"]'))}`);
    return link;
  }, "sidebar");
  await click(parent);
  const group = parent.closest("[data-testid]:not([data-testid^=link-for-])");
  await until(() => {
    const children = [...group.querySelectorAll("[data-parent-id-test] [data-testid^=link-for-] > span")].map((c) =>
      text(c),
    );
    expect(children).toEqual(["Clusters", "Machines", "Remote machines", "Pools"]);
  }, "sidebar children");
  keep("sidebar");
});

it("shows the pool with its counts on the Pools page", async () => {
  const page = await openPage("capi-pools", "page-pools");
  await until(() => {
    const row = page.querySelector('[data-key$="/lens"]');
    // Its cells: pool, namespace, total 3, available 2 (pm-stale is claimed), in use, cordoned
    // and quarantined 0, the template using it.
    const cells = [...(row?.children ?? [])].map((c) => text(c).trim()).filter(Boolean);
    expect(cells.join(" ")).toBe(`lens ${ns} 3 2 0 0 0 lens-tmpl`);
    expect(text(page)).not.toMatch(/Loading/);
  }, "pool row");
  keep("page-pools");
});

it("opens a pool from the Pools page and lists its machines", async () => {
  const page = await openPage("capi-pools", "page-pools");
  const link = await until(() => {
    const el = page.querySelector(`[data-target="${ns}/lens"]`);
    if (!el) throw new Error("no link to pool lens");
    return el;
  }, "pool link");
  await click(link);
  await until(() => {
    const pool = text($('[data-testid="page-pool"]'));
    for (const pm of ["pm-a", "pm-b", "pm-stale"]) expect(pool).toMatch(pm);
  }, "pool page");
  keep("page-pool");
});

it("shows the cluster tree, Machines and Remote machines", async () => {
  const clusters = await openPage("capi-clusters", "page-clusters");
  await until(
    () => expect(text(clusters.querySelector('[data-cluster="c1"]'))).toMatch(/MachineDeployment\s*md1/),
    "tree",
  );
  keep("page-clusters");
  const machines = await openPage("capi-machines", "page-machines");
  await until(() => {
    expect(text(machines)).toMatch(/m-one/);
    expect(text(machines)).not.toMatch(/Loading/);
  }, "machines");
  keep("page-machines");
  const rms = await openPage("capi-remote-machines", "page-remote-machines");
  await until(() => {
    expect(text(rms)).toMatch(/m-one/);
    expect(text(rms)).not.toMatch(/Loading/);
  }, "remote machines");
  keep("page-remote-machines");
});

/** How many times the renderer listed `plural` (watches not counted): a watch update must not need one. */
const lists = (plural: string) =>
  requests.filter((r) => /^get /i.test(r) && !/[?&]watch=/.test(r) && new RegExp(`/${plural}(\\?|$)`).test(r)).length;

it("loads the Event store for a panel and shows the object's Events under Recent events", async () => {
  const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pm-b`);
  await adminRequest("POST", `/api/v1/namespaces/${ns}/events`, {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: "pm-b.lens-probe", namespace: ns },
    involvedObject: {
      apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
      kind: "PooledRemoteMachine",
      name: "pm-b",
      namespace: ns,
      uid: pm.body.metadata.uid,
    },
    type: "Warning",
    reason: "Unreachable",
    message: "ssh to 198.18.9.2:22 timed out",
    lastTimestamp: new Date().toISOString(),
    count: 2,
    source: { component: "capi-remote" },
  });
  const panel = await showDetails(`${INFRA}/pooledremotemachines/pm-b`, "panel-pool-machine");
  const event = await until(() => {
    const el = panel.querySelector(".capi-event");
    expect(text(el)).toMatch(/Unreachable: ssh to 198\.18\.9\.2:22 timed out \(x2\)/);
    return el;
  }, "the Event in Recent events");
  // A warning in the theme's warning colour (kept as var() in the markup, as a browser keeps it).
  expect(event.getAttribute("style")).toMatch(/color: var\(--colorWarning/);
  expect(requests.some((r) => r.toLowerCase().startsWith(`get /api/v1/namespaces/${ns}/events`))).toBe(true);
});

it("follows a pool machine's status change on the API server by watch, without a reload", async () => {
  await showDetails(`${INFRA}/pooledremotemachines/pm-b`, "panel-pool-machine");
  const phase = () => text($('.Drawer [data-testid="panel-pool-machine"] [data-testid="pool-phase"]'));
  await until(() => expect(phase()).toBe("Available"), "pm-b available");
  const listed = lists("pooledremotemachines");
  const t0 = Date.now();
  await apiMergePatch(`${INFRA}/pooledremotemachines/pm-b/status`, { status: { phase: "Quarantined" } });
  await until(() => expect(phase()).toBe("Quarantined"), "pm-b quarantined by watch");
  console.log(`# watch: status change on screen ${Date.now() - t0} ms after the PATCH returned`);
  expect(lists("pooledremotemachines")).toBe(listed);
});

it("shows a RemoteMachine created on the API server by watch, without a reload", async () => {
  await openPage("capi-remote-machines", "page-remote-machines");
  const page = () => text($('[data-testid="page-remote-machines"]'));
  await until(() => expect(page()).toMatch(/m-one/), "remote machines");
  expect(page()).not.toMatch(/m-watched/);
  const listed = lists("remotemachines");
  await adminRequest("POST", `${INFRA}/remotemachines`, {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteMachine",
    metadata: { name: "m-watched", namespace: ns },
    spec: { pool: "lens" },
  });
  await until(() => expect(page()).toMatch(/m-watched/), "new RemoteMachine by watch");
  expect(lists("remotemachines")).toBe(listed);
});

it("shows the pool machine panel in the real drawer, with icon menu items in the toolbar", async () => {
  const panel = await showDetails(`${INFRA}/pooledremotemachines/pm-stale`, "panel-pool-machine");
  expect(text($(".Drawer .drawer-title"))).toMatch(/PooledRemoteMachine: pm-stale/);
  await until(() => expect(text(panel)).toMatch(/no longer exists/), "stale claim note");
  namespaceShownOnce();
  keep("drawer-pooledremotemachine");
  for (const [action, icon] of [
    ["cordon", "block"],
    ["release", "logout"],
  ]) {
    const item = toolbarItem(action)?.closest(".MenuItem");
    expect(item).toBeTruthy();
    // As Lens's own items: an interactive icon (the toolbar shows only icons) and a title.
    expect(item.querySelector(`.Icon.interactive [data-icon-name="${icon}"]`)).toBeTruthy();
    expect(text(item.querySelector(".title"))).toMatch(action === "cordon" ? /^Cordon$/ : /^Release$/);
  }
});

it("releases a stale claim through the real ConfirmDialog, the API server and a notification", async () => {
  await click(toolbarItem("release"));
  const dialog = await confirmDialog();
  // Title and message are separate paragraphs.
  expect(text(dialog.querySelector(".capi-confirm-title"))).toBe("Release pm-stale");
  expect(text(dialog.querySelector(".capi-confirm-message"))).toMatch(/RemoteMachine gone no longer exists/);
  keep("dialog-release");
  await click([...dialog.querySelectorAll("button")].find((b) => /Clear claim/.test(text(b))));
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pm-stale`);
    expect(pm.body.metadata.annotations?.["remote.infrastructure.cluster.x-k8s.io/release"]).toBeTruthy();
  }, "release annotation");
  await notification(/Release of pm-stale requested/);
  keep("notification-release");
  expect(requests.some((r) => /^patch /i.test(r) && r.includes("pooledremotemachines/pm-stale"))).toBe(true);
});

it("cordons from the drawer toolbar, through the API server, with a notification", async () => {
  await showDetails(`${INFRA}/pooledremotemachines/pm-a`, "panel-pool-machine");
  await click(
    await until(
      () =>
        toolbarItem("cordon") ??
        (() => {
          throw new Error("no cordon item");
        })(),
      "cordon item",
    ),
  );
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pm-a`);
    expect(pm.body.spec.cordoned).toBe(true);
  }, "cordoned in the API server");
  await notification(/pm-a cordoned/);
});

it("uncordons from the drawer toolbar once the machine is cordoned, without asking", async () => {
  await showDetails(`${INFRA}/pooledremotemachines/pm-a`, "panel-pool-machine");
  const asked = $$(".capi-confirm").length;
  await clickToolbar("uncordon");
  await eventually(async () => {
    const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pm-a`);
    expect(pm.body.spec.cordoned ?? false).toBe(false);
  }, "uncordoned in the API server");
  await notification(/pm-a uncordoned/);
  // No confirmation was asked for.
  expect($$(".capi-confirm").length).toBe(asked);
});

it("shows the RemoteMachine and Machine panels in the drawer", async () => {
  const rm = await showDetails(`${INFRA}/remotemachines/m-one`, "panel-remote-machine");
  await until(() => expect(text(rm)).toMatch(/Machine\s*m-one/), "RemoteMachine panel names its Machine");
  namespaceShownOnce();
  keep("drawer-remotemachine");
  const m = await showDetails(`${CAPI}/machines/m-one`, "panel-machine-remote");
  await until(() => expect(text(m)).toMatch(/RemoteMachine\s*m-one/), "Machine panel");
  namespaceShownOnce();
  keep("drawer-machine");
});

it("pauses a Cluster only after a confirmation that says what pausing does", async () => {
  await openDrawer(`${CAPI}/clusters/c1`, /Cluster: c1/);
  await click(
    await until(
      () =>
        toolbarItem("pause") ??
        (() => {
          throw new Error("no pause item");
        })(),
      "pause item",
    ),
  );
  const dialog = await confirmDialog();
  expect(text(dialog.querySelector(".capi-confirm-title"))).toBe("Pause Cluster c1");
  expect(text(dialog.querySelector(".capi-confirm-message"))).toMatch(/stop acting on c1/);
  keep("dialog-pause");
  await click([...dialog.querySelectorAll("button")].find((b) => /^Pause$/.test(text(b).trim())));
  await eventually(async () => expect((await apiGetJson(`${CAPI}/clusters/c1`)).body.spec.paused).toBe(true), "paused");
  await notification(/Cluster c1 paused/);
});

it("resumes the paused Cluster from the drawer toolbar, without asking", async () => {
  await openDrawer(`${CAPI}/clusters/c1`, /Cluster: c1/);
  const asked = $$(".capi-confirm").length;
  await clickToolbar("resume");
  await eventually(
    async () => expect((await apiGetJson(`${CAPI}/clusters/c1`)).body.spec.paused ?? false).toBe(false),
    "resumed",
  );
  await notification(/Cluster c1 resumed/);
  // No confirmation was asked for.
  expect($$(".capi-confirm").length).toBe(asked);
});

it("scales a MachineDeployment down only after a confirmation naming the deletion", async () => {
  await openDrawer(`${CAPI}/machinedeployments/md1`, /MachineDeployment: md1/);
  await click(
    await until(
      () =>
        toolbarItem("scale-down") ??
        (() => {
          throw new Error("no scale-down item");
        })(),
      "scale-down item",
    ),
  );
  const dialog = await confirmDialog();
  expect(text(dialog.querySelector(".capi-confirm-title"))).toBe("Scale md1 down to 0");
  expect(text(dialog.querySelector(".capi-confirm-message"))).toMatch(
    /One Machine of MachineDeployment md1 is deleted/,
  );
  keep("dialog-scale-down");
  await click([...dialog.querySelectorAll("button")].find((b) => /Scale to 0/.test(text(b))));
  await eventually(
    async () => expect((await apiGetJson(`${CAPI}/machinedeployments/md1`)).body.spec.replicas).toBe(0),
    "replicas 0",
  );
  await notification(/md1 scaled from 1 to 0/);
});

it("scales the MachineDeployment up from the drawer toolbar, without asking", async () => {
  await openDrawer(`${CAPI}/machinedeployments/md1`, /MachineDeployment: md1/);
  await until(() => expect(text(toolbarItem("scale-up"))).toBe("Scale to 1"), "scale-up item from 0");
  const asked = $$(".capi-confirm").length;
  await clickToolbar("scale-up");
  await eventually(
    async () => expect((await apiGetJson(`${CAPI}/machinedeployments/md1`)).body.spec.replicas).toBe(1),
    "replicas 1",
  );
  await notification(/md1 scaled from 0 to 1/);
  // No confirmation was asked for.
  expect($$(".capi-confirm").length).toBe(asked);
});
