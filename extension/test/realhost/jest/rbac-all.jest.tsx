// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree
/**
 * The limited user of rbac.jest.tsx (CAPI_REALHOST_LIMITED) with two namespaces in the host's
 * list, both selected: Freelens then lists cluster-wide, which the user may not. The page says so
 * and what to do instead of showing an empty list.
 */
jest.mock("@freelensapp/legacy-global-di", () => require("./legacy-global-di.mock"));
jest.mock("../test-utils/use-fake-time", () => require("./real-time.mock"));
jest.mock("react-virtualized-auto-sizer", () => jest.requireActual("react-virtualized-auto-sizer"));
jest.mock("@freelensapp/tooltip", () => jest.requireActual("@freelensapp/tooltip"));

import { body, type Host, keep, requests, startHost, text, until } from "./harness";

const ns = process.env.CAPI_REALHOST_NS ?? "";
let host: Host;

beforeAll(async () => {
  host = await startHost([ns, "default"], "CAPI_REALHOST_LIMITED");
}, 120_000);

it("says the cluster-wide list is forbidden and to pick readable namespaces, when all namespaces are selected", async () => {
  await host.extension.navigate("capi-pools");
  await until(() => {
    const err = body().querySelector('[data-testid="page-pools"] [data-testid="load-error"]');
    expect(text(err)).toMatch(/Could not load PooledRemoteMachine/);
    expect(text(err)).toMatch(/forbidden/);
    expect(text(err)).toMatch(/pick namespaces you may read in the namespace filter/);
  }, "forbidden cluster-wide list");
  // It was the cluster-wide list that was refused.
  expect(requests).toContain("get /apis/infrastructure.cluster.x-k8s.io/v1beta2/pooledremotemachines");
  keep("rbac-all-namespaces-forbidden");
});
