import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { buildCrds, openAPISchema, renderCrdFiles } from "./crd.js";
import { KINDS } from "./kinds.js";

const crdDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "crds");

/** Keywords a structural CRD schema rejects, which a schema library might emit. */
const FORBIDDEN = ["$id", "$schema", "$ref", "const", "patternProperties", "anyOf", "oneOf", "allOf", "not"];

function walk(node: unknown, path: string, visit: (key: string, value: unknown, path: string) => void) {
  if (!node || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    visit(k, v, `${path}.${k}`);
    walk(v, `${path}.${k}`, visit);
  }
}

describe("generated CRDs", () => {
  it("crds/ matches the models (run `npm run gen:crds` when this fails)", () => {
    const want = renderCrdFiles();
    const have = readdirSync(crdDir);
    assert.deepEqual([...have].sort(), [...want.keys()].sort(), "file list differs");
    for (const [name, text] of want) {
      assert.equal(readFileSync(join(crdDir, name), "utf8"), text, `crds/${name} is stale`);
    }
  });

  it("carries the contract and provider labels", () => {
    for (const crd of buildCrds()) {
      const labels = (crd.metadata as { labels: Record<string, string> }).labels;
      assert.equal(labels["cluster.x-k8s.io/v1beta1"], "v1beta1");
      assert.equal(labels["cluster.x-k8s.io/v1beta2"], "v1beta2");
      assert.equal(labels["cluster.x-k8s.io/provider"], "infrastructure-remote");
    }
  });

  it("serves v1beta1 and v1beta2 with one schema and stores v1beta2", () => {
    for (const crd of buildCrds()) {
      const spec = crd.spec as { versions: { name: string; storage: boolean; served: boolean; schema: unknown }[] };
      assert.deepEqual(
        spec.versions.map((v) => [v.name, v.served, v.storage]),
        [
          ["v1beta1", true, false],
          ["v1beta2", true, true],
        ],
      );
      assert.deepEqual(spec.versions[0]?.schema, spec.versions[1]?.schema);
    }
  });

  it("uses only structural-schema keywords", () => {
    for (const crd of buildCrds()) {
      walk(crd, "", (key, _v, path) => assert.ok(!FORBIDDEN.includes(key), `${path} is not allowed in a CRD schema`));
    }
  });

  it("has the status subresource exactly on kinds with a status, and cluster-api category", () => {
    for (const def of Object.values(KINDS)) {
      const crd = parse(renderCrdFiles().get(`infrastructure.cluster.x-k8s.io_${def.plural}.yaml`) ?? "");
      assert.equal(!!crd.spec.versions[1].subresources?.status, "status" in def, def.kind);
      assert.ok(crd.spec.names.categories.includes("cluster-api"));
      assert.ok(crd.spec.names.shortNames.length > 0);
    }
  });

  it("defaults port 22, user root and working dir /etc/k0smotron as k0smotron does", () => {
    const schema = openAPISchema(KINDS.RemoteMachine) as {
      properties: { spec: { properties: Record<string, { default?: unknown }> } };
    };
    const spec = schema.properties.spec;
    assert.equal(spec.properties.port?.default, 22);
    assert.equal(spec.properties.user?.default, "root");
    assert.equal(spec.properties.workingDir?.default, "/etc/k0smotron");
    assert.equal(spec.properties.commandsAsScript?.default, false);
  });

  it("shows address, user, pool, provisioned, provider ID, claimed-by and age columns", () => {
    const cols = (kind: keyof typeof KINDS) => KINDS[kind].columns.map((c) => c.name);
    assert.deepEqual(
      ["Address", "User", "Pool", "Provisioned", "ProviderID", "Age"].filter((c) => !cols("RemoteMachine").includes(c)),
      [],
    );
    assert.deepEqual(
      ["Pool", "Address", "Reserved", "Claimed-By", "Age"].filter((c) => !cols("PooledRemoteMachine").includes(c)),
      [],
    );
  });
});
