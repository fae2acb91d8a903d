/**
 * The extension type-checks against Freelens 1.9.0's real declarations (Lens 6.5.2's are checked
 * by `npm test`'s tsc step with extension/tsconfig.json), and a call to a host API that does not
 * exist fails both checks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EXTENSION_DIR, freelensTsconfig, tsc } from "./hosttypes.js";

const PROBE = `import { Renderer } from "@k8slens/extensions";
export const probe = () => Renderer.K8sApi.DoesNotExist.reallyNot(42);
`;

describe("host type checks", () => {
  it("the extension type-checks against @freelensapp/extensions 1.9.0", () => {
    const r = tsc(freelensTsconfig());
    assert.equal(r.code, 0, r.output);
  });

  it("a call to a missing host API fails against Lens 6.5.2 and against Freelens 1.9.0", () => {
    // Inside the extension, so its node_modules resolve as they do for the sources.
    const dir = mkdtempSync(join(EXTENSION_DIR, ".probe-"));
    try {
      const probe = join(dir, "probe.ts");
      writeFileSync(probe, PROBE);
      const lens = join(dir, "tsconfig.lens.json");
      writeFileSync(
        lens,
        JSON.stringify({
          extends: join(EXTENSION_DIR, "tsconfig.json"),
          include: [probe],
          compilerOptions: { typeRoots: [join(EXTENSION_DIR, "../node_modules/@types")] },
        }),
      );
      for (const [host, project] of [
        ["Lens 6.5.2", lens],
        ["Freelens 1.9.0", freelensTsconfig([probe])],
      ] as const) {
        const r = tsc(project);
        assert.notEqual(r.code, 0, `${host}: the probe compiled`);
        assert.match(
          r.output,
          /probe\.ts\(2,\d+\): error TS2339: Property 'DoesNotExist' does not exist/,
          `${host}: ${r.output}`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
