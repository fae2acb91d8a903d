/**
 * The install's plan and bookkeeping (model/install.ts) over the real deploy/install.yaml, with a
 * client that records what it was asked and refuses what a test says. The real API server's
 * answers are covered by the real-host suite (extension/test/realhost/jest/install.jest.tsx).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { INSTALL_YAML } from "../../build.js";
import {
  applyPath,
  describe as describeObj,
  FIELD_MANAGER,
  INSTALL_KINDS,
  type InstallClient,
  type InstallProgress,
  install,
  type Right,
  rightsFor,
  summary,
} from "./install.js";
import type { Obj } from "./types.js";

const manifests = parseAllDocuments(readFileSync(INSTALL_YAML, "utf8"))
  .map((d) => d.toJSON() as Obj | null)
  .filter((d): d is Obj => !!d);

function client(opts: { refuse?: (r: Right) => boolean; failAt?: string; reviewFails?: boolean } = {}) {
  const applied: string[] = [];
  const c: InstallClient = {
    apply: async (path) => {
      if (opts.failAt && path.includes(opts.failAt))
        throw Object.assign(new Error(`${opts.failAt} is forbidden: User "u" cannot create`), { code: 403 });
      applied.push(path);
    },
    canI: async (r) => {
      if (opts.reviewFails) throw new Error("selfsubjectaccessreviews is forbidden");
      return !opts.refuse?.(r);
    },
  };
  return { c, applied };
}

describe("install from the extension", () => {
  it("knows every kind deploy/install.yaml holds, and where each object goes", () => {
    assert.ok(manifests.length > 10, `${manifests.length} objects`);
    for (const m of manifests) assert.ok(INSTALL_KINDS[m.kind ?? ""], `${describeObj(m)}: unknown kind`);
    const crd = manifests.find((m) => m.kind === "CustomResourceDefinition") as Obj;
    assert.equal(
      applyPath(crd),
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=${FIELD_MANAGER}`,
    );
    const sa = manifests.find((m) => m.kind === "ServiceAccount") as Obj;
    assert.equal(
      applyPath(sa),
      `/api/v1/namespaces/capi-remote-system/serviceaccounts/capi-remote-manager?fieldManager=${FIELD_MANAGER}`,
    );
    const dep = manifests.find((m) => m.kind === "Deployment") as Obj;
    assert.match(applyPath(dep), /^\/apis\/apps\/v1\/namespaces\/capi-remote-system\/deployments\//);
    assert.match(summary(manifests), /^5 CustomResourceDefinitions, /);
  });

  it("asks for create and patch of each kind once, where it is created", () => {
    const rights = rightsFor(manifests);
    const keys = rights.map((r) => `${r.verb} ${r.group}/${r.resource} ${r.namespace ?? "-"}`);
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(keys.includes("create apiextensions.k8s.io/customresourcedefinitions -"));
    assert.ok(keys.includes("patch rbac.authorization.k8s.io/clusterroles -"));
    assert.ok(keys.includes("create /serviceaccounts capi-remote-system"));
    assert.ok(keys.includes("create apps/deployments capi-remote-system"));
  });

  it("applies everything in the file's order and reports each step", async () => {
    const { c, applied } = client();
    const seen: InstallProgress[] = [];
    const last = await install(manifests, c, (p) => seen.push(p));
    assert.equal(last.phase, "done");
    assert.deepEqual(applied, manifests.map(applyPath));
    assert.equal(last.applied.length, manifests.length);
    assert.deepEqual(last.notApplied, []);
    assert.equal(seen[0]?.phase, "checking");
    assert.ok(seen.some((p) => p.phase === "applying" && p.current === describeObj(manifests[3] as Obj)));
  });

  it("applies nothing when a right is refused, and names every refused right", async () => {
    const { c, applied } = client({ refuse: (r) => r.resource === "clusterroles" || r.resource === "deployments" });
    const last = await install(manifests, c, () => {});
    assert.equal(last.phase, "refused");
    assert.deepEqual(applied, []);
    assert.deepEqual(last.refused, [
      "create clusterroles.rbac.authorization.k8s.io (cluster-wide)",
      "patch clusterroles.rbac.authorization.k8s.io (cluster-wide)",
      "create deployments.apps in capi-remote-system",
      "patch deployments.apps in capi-remote-system",
    ]);
    assert.equal(last.notApplied.length, manifests.length);
  });

  it("stops at a refusal the review did not foresee: applied, failed (forbidden) and not applied add up", async () => {
    const { c, applied } = client({ failAt: "/clusterroles/" });
    const last = await install(manifests, c, () => {});
    assert.equal(last.phase, "failed");
    const at = manifests.findIndex((m) => m.kind === "ClusterRole");
    assert.equal(last.failed?.object, describeObj(manifests[at] as Obj));
    assert.equal(last.failed?.forbidden, true);
    assert.deepEqual(last.applied, manifests.slice(0, at).map(describeObj));
    assert.deepEqual(last.notApplied, manifests.slice(at + 1).map(describeObj));
    assert.equal(applied.length, at);
    assert.equal(last.applied.length + 1 + last.notApplied.length, manifests.length);
  });

  it("goes ahead when the review itself cannot be made (the apply still answers for each object)", async () => {
    const { c, applied } = client({ reviewFails: true });
    const last = await install(manifests, c, () => {});
    assert.equal(last.phase, "done");
    assert.equal(applied.length, manifests.length);
  });
});
