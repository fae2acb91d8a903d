import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resourceOfPath } from "./api.js";

describe("resourceOfPath: bounded metric labels", () => {
  const cases: [string, string][] = [
    ["/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/ns/remotemachines/m-1", "remotemachines"],
    ["/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/ns/remotemachines/m-1/status", "remotemachines/status"],
    ["/apis/infrastructure.cluster.x-k8s.io/v1beta2/remotemachines?watch=1", "remotemachines"],
    ["/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/ns/pooledremotemachines", "pooledremotemachines"],
    ["/api/v1/namespaces/ns/events", "events"],
    ["/api/v1/nodes/n1", "nodes"],
    ["/api/v1/namespaces/ns", "namespaces"],
    ["/apis/coordination.k8s.io/v1/namespaces/ns/leases/capi-remote", "leases"],
  ];
  for (const [path, want] of cases) it(path, () => assert.equal(resourceOfPath(path), want));
});
