// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * Installing capi-remote from the extension in Freelens 1.9.0's real renderer, against a bare
 * real API server of its own (no Cluster API, no capi-remote), as a ServiceAccount that may read
 * everything and change nothing: the cluster refuses, the refusals are listed and nothing is
 * applied. Then an admin grants that user cluster-admin, and the same offer installs: every
 * object of deploy/install.yaml applied server-side under the extension's field manager, and the
 * pages find capi-remote's kinds.
 *
 *   CAPI_REALHOST_INSTALL          the reader on that API server (the harness acts as this user)
 *   CAPI_REALHOST_INSTALL_ADMIN    its admin, to check the API server and to grant rights
 *   CAPI_REALHOST_INSTALL_OBJECTS  JSON list of "Kind namespace/name" the install must apply
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { Agent } from "node:https";
import { $, $$, click, eventually, type Host, keep, requests, startHost, text, until } from "./harness";

const expected: string[] = JSON.parse(process.env.CAPI_REALHOST_INSTALL_OBJECTS ?? "[]");

/** A request as the install API server's admin. */
async function asAdmin(method: string, path: string, data?: unknown) {
  const admin = JSON.parse(process.env.CAPI_REALHOST_INSTALL_ADMIN ?? "{}");
  const nodeFetch = jest.requireActual("@freelensapp/node-fetch").default;
  const res = await nodeFetch(`${admin.server}${path}`, {
    method,
    agent: new Agent({ ca: admin.caPEM }),
    headers: { authorization: `Bearer ${admin.token}`, "content-type": "application/json" },
    body: data === undefined ? undefined : JSON.stringify(data),
  });
  const t = await res.text();
  if (method !== "GET" && res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${t}`);
  return { status: res.status, body: t ? JSON.parse(t) : undefined };
}
const apiGetJson = (path: string) => asAdmin("GET", path);
const FIELD_MANAGER = "capi-remote-lens-extension";
let host: Host;

beforeAll(async () => {
  host = await startHost(["default"], "CAPI_REALHOST_INSTALL");
}, 120_000);

const confirmInstall = async () => {
  const dialog = await until(
    () =>
      $(".ConfirmDialog") ??
      (() => {
        throw new Error("no confirm dialog");
      })(),
    "confirm",
  );
  expect(text(dialog.querySelector(".capi-confirm-title"))).toBe("Install capi-remote into this cluster");
  expect(text(dialog.querySelector(".capi-confirm-message"))).toMatch(
    new RegExp(
      `Applies capi-remote's ${expected.length} objects \\(5 CustomResourceDefinitions, .*server-side apply, as you \\(field manager ${FIELD_MANAGER}\\)`,
    ),
  );
  keep("dialog-install");
  await click([...dialog.querySelectorAll("button")].find((b) => text(b).trim() === "Install"));
};

const offer = () =>
  until(() => {
    const b = $('[data-testid="page-pools"] [data-testid="install-capi-remote"]');
    if (!b) throw new Error(`no install offer: ${text($('[data-testid="page-pools"]')).slice(0, 300)}`);
    return b;
  }, "install offer");

it("offers the install where capi-remote is missing; a user who may not create its objects gets a list of refusals and nothing is applied", async () => {
  await host.extension.navigate("capi-pools");
  const b = await offer();
  expect(text($('[data-testid="page-pools"] [data-testid="empty-state"]'))).toMatch(/capi-remote not installed/);
  keep("install-offer");
  await click(b);
  await confirmInstall();
  const report = await until(() => {
    const r = $('[data-testid="install-report"][data-phase="refused"]');
    if (!r) throw new Error(`report: ${text($('[data-testid="install-report"]'))}`);
    return r;
  }, "refused report");
  expect(text(report)).toMatch(/Nothing was applied/);
  const refused = text(report.querySelector('[data-testid="install-refused"]'));
  expect(refused).toMatch(/create customresourcedefinitions\.apiextensions\.k8s\.io \(cluster-wide\)/);
  expect(refused).toMatch(/create deployments\.apps in capi-remote-system/);
  // Nothing reached the API server.
  keep("install-refused");
  const crds = await apiGetJson("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
  expect(crds.body.items.filter((c) => c.spec.group === "infrastructure.cluster.x-k8s.io")).toEqual([]);
  expect((await apiGetJson("/api/v1/namespaces/capi-remote-system")).status).toBe(404);
  // Only reviews of the person's rights were sent, no apply.
  expect(requests.filter((r) => /^patch /i.test(r))).toEqual([]);
});

it("installs once an admin granted the rights: every object applied server-side under the extension's field manager, and the pages find capi-remote", async () => {
  await asAdmin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "lens-reader-may-install" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    subjects: [{ kind: "ServiceAccount", name: "reader", namespace: "lens-users" }],
  });
  await click(await offer());
  await confirmInstall();
  const report = await until(
    () => {
      const r = $('[data-testid="install-report"]');
      const phase = r?.getAttribute("data-phase");
      if (phase !== "done") throw new Error(`report (${phase}): ${text(r)}`);
      return r;
    },
    "install done",
    90_000,
  );
  expect(text(report)).toMatch(new RegExp(`capi-remote installed: all ${expected.length} objects applied`));
  const applied = text(report.querySelector('[data-testid="install-applied"]'));
  expect(applied).toMatch(new RegExp(`^Applied \\(${expected.length}\\): `));
  for (const o of expected) expect(applied).toContain(o);
  // One server-side apply per object, under the extension's field manager.
  const applies = requests.filter((r) => /^patch /i.test(r));
  expect(applies.length).toBe(expected.length);
  expect(applies.every((r) => r.includes(`fieldManager=${FIELD_MANAGER}`))).toBe(true);
  for (const [path, name] of [
    [
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pooledremotemachines.infrastructure.cluster.x-k8s.io",
      "CRD",
    ],
    ["/apis/apps/v1/namespaces/capi-remote-system/deployments/capi-remote-controller-manager", "Deployment"],
    ["/apis/rbac.authorization.k8s.io/v1/clusterroles/capi-remote-manager", "ClusterRole"],
  ]) {
    const o = await apiGetJson(path);
    expect([name, o.status]).toEqual([name, 200]);
    expect(o.body.metadata.managedFields.find((f) => f.manager === FIELD_MANAGER)?.operation).toBe("Apply");
  }
  // The Pools page lists capi-remote's kinds now: no "not installed", and no pools yet.
  await until(
    () => {
      const page = $('[data-testid="page-pools"]');
      expect(text(page)).not.toMatch(/not installed/);
      expect(text(page)).toMatch(/No pools in this cluster yet/);
    },
    "pools page after install",
    60_000,
  );
  await eventually(async () => {
    const list = await apiGetJson("/apis/infrastructure.cluster.x-k8s.io/v1beta2/pooledremotemachines");
    expect(list.status).toBe(200);
  }, "capi-remote's kinds served");
  expect($$('[data-testid="install-capi-remote"]').length).toBe(0);
  keep("install-done");
});
