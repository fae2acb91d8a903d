// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * The packed extension in Freelens 1.9.0's real renderer against a real API server that has
 * neither Cluster API's nor capi-remote's CRDs, but another provider's CRD in
 * infrastructure.cluster.x-k8s.io (CAPI_REALHOST_BARE, made by test/freelens/realhost.test.ts):
 * capi-remote's kinds answer 404 with a Status, Cluster API's the text "404 page not found", and
 * Freelens wraps either as `Error("Failed to load ...", { cause })`. The pages say what to install.
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { $, type Host, keep, startHost, text, until } from "./harness";

let host: Host;

beforeAll(async () => {
  host = await startHost(["default"], "CAPI_REALHOST_BARE");
}, 120_000);

it("names what to install on the Pools page when capi-remote's CRDs are absent", async () => {
  await host.extension.navigate("capi-pools");
  await until(() => {
    const empty = $('[data-testid="page-pools"] [data-testid="empty-state"]');
    expect(text(empty)).toMatch(/capi-remote not installed in this cluster/);
    expect(text(empty)).toMatch(/deploy\/install\.yaml/);
  }, "missing capi-remote");
  keep("missing-crds-pools");
});

it("names Cluster API on the Machines page when its CRDs are absent", async () => {
  await host.extension.navigate("capi-machines");
  await until(() => {
    const empty = $('[data-testid="page-machines"] [data-testid="empty-state"]');
    expect(text(empty)).toMatch(/Cluster API not installed in this cluster/);
    expect(text(empty)).toMatch(/clusterctl init/);
  }, "missing Cluster API");
  keep("missing-crds-machines");
});

it("names what to install on the Clusters and Remote machines pages too", async () => {
  for (const [page, testId, product] of [
    ["capi-clusters", "page-clusters", /Cluster API not installed in this cluster/],
    ["capi-remote-machines", "page-remote-machines", /capi-remote not installed in this cluster/],
  ] as const) {
    await host.extension.navigate(page);
    await until(
      () => expect(text($(`[data-testid="${testId}"] [data-testid="empty-state"]`))).toMatch(product),
      `missing on ${page}`,
    );
  }
});
