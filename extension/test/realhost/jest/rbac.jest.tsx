// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * The packed extension in Freelens 1.9.0's real renderer, acting as a user with limited RBAC
 * (CAPI_REALHOST_LIMITED: a ServiceAccount token made by test/freelens/realhost.test.ts) who may
 * get, list and watch Cluster API and capi-remote objects in one namespace, except RemoteMachines,
 * and may change nothing. The pages show what the user may see, say what they may not, and
 * actions end in a clear notification with nothing changed on the API server.
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { $, $$, apiGetJson, click, type Host, keep, notification, startHost, text, until } from "./harness";

const ns = process.env.CAPI_REALHOST_NS ?? "";
const INFRA = `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${ns}`;
let host: Host;

beforeAll(async () => {
  host = await startHost([ns], "CAPI_REALHOST_LIMITED");
}, 120_000);

it("shows the pools the user may read", async () => {
  await host.extension.navigate("capi-pools");
  await until(() => {
    const page = $('[data-testid="page-pools"]');
    expect(text(page)).toMatch(/lens/);
    expect(text(page)).toMatch(/lens-tmpl/);
  }, "pool row as the limited user");
});

it("says on the Remote machines page that the user may not list them, and what to ask for", async () => {
  await host.extension.navigate("capi-remote-machines");
  await until(() => {
    const err = $('[data-testid="page-remote-machines"] [data-testid="load-error"]');
    expect(text(err)).toMatch(/Could not load RemoteMachine/);
    expect(text(err)).toMatch(/forbidden/);
    expect(text(err)).toMatch(/ask for read access/);
  }, "forbidden RemoteMachines");
  keep("rbac-remote-machines-forbidden");
});

it("refuses to cordon with a clear notification, changes nothing, and keeps working", async () => {
  globalThis.LensExtensions.Renderer.Navigation.showDetails(`${INFRA}/pooledremotemachines/pm-b`);
  const item = await until(() => {
    const el = $('.Drawer .drawer-title [data-action="cordon"]');
    if (!el) throw new Error("no cordon item in the drawer toolbar");
    return el;
  }, "cordon item");
  const before = $$(".notification").length;
  await click(item);
  const told = await notification(
    /Cordon pm-b was refused by the API server \(forbidden\): .*"pm-b" is forbidden: User .*lens-viewer" cannot patch resource "pooledremotemachines"/,
  );
  // Freelens shows every 403 as a notification of its own, with the bare Status message; the
  // extension withdraws it for its own, so the person reads one. A moment later there is still one.
  await new Promise((r) => setTimeout(r, 500));
  const shown = $$(".notification").map(text);
  expect(shown.length - before).toBe(1);
  expect(shown.filter((t) => /forbidden/.test(t))).toEqual([told]);
  keep("rbac-cordon-refused");
  const pm = await apiGetJson(`${INFRA}/pooledremotemachines/pm-b`);
  expect(pm.body.spec.cordoned ?? false).toBe(false);
  // The host is still alive: the page renders after the refusal.
  await host.extension.navigate("capi-pools");
  await until(() => expect(text($('[data-testid="page-pools"]'))).toMatch(/lens-tmpl/), "pools after refusal");
});
