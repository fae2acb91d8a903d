import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { scratchDir } from "../../test/bed/util.js";
import { checkStructure } from "./structure.js";

const root = scratchDir("structure-");
after(() => rmSync(root, { recursive: true, force: true }));
const write = (rel: string, text: string) => {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
};

describe("structure check", () => {
  it("passes on this repository (with its listed exemptions)", () => {
    const repo = resolve(dirname(new URL(import.meta.url).pathname), "../..");
    assert.deepEqual(checkStructure(repo).broken, []);
  });

  it("catches each rule on a tree made to break them", () => {
    write(
      "shared/src/io.ts",
      'import { readFileSync } from "node:fs";\nimport { x } from "../../controller/src/a.js";\n',
    );
    write("controller/src/ssh/x.ts", 'import { R } from "../kube/api.js";\n');
    write("controller/src/provisionjob/x.ts", 'import { W } from "../workload/nodes.js";\n');
    write("controller/src/workload/x.ts", 'import { PoolClaims } from "../pool/claims.js";\n');
    write("controller/src/pool/x.ts", 'import type { Ctx } from "../controllers/context.js";\n');
    write(
      "controller/src/tasks/manager.ts",
      'import { FairSlots } from "../ssh/slots.js";\nimport { asRoot } from "../host/protocol.js";\nimport { Task } from "./task.js";\n',
    );
    write("controller/src/controllers/a/status.ts", 'import { KubeApi } from "../../kube/api.js";\n');
    write("controller/src/controllers/a/phase.ts", 'import { y } from "../b/phase.js";\n');
    write(
      "extension/src/views/page.tsx",
      'import { lensSource } from "../adapter/lens.js";\nimport { Renderer } from "@k8slens/extensions";\n',
    );
    write("controller/src/big.ts", `${"const a = 1;\n".repeat(401)}`);
    write("controller/src/long.ts", `export function long() {\n${"  void 0;\n".repeat(85)}}\n`);
    write("controller/src/long.test.ts", `export function long() {\n${"  void 0;\n".repeat(85)}}\n`);
    const messages = checkStructure(root)
      .broken.map((b) => b.message)
      .join("\n");
    for (const want of [
      /shared\/src\/io\.ts: shared does no I\/O/,
      /shared\/src\/io\.ts: shared imports .*outside shared/,
      /ssh\/x\.ts: host-side code imports/,
      /provisionjob\/x\.ts: host-side code imports \.\.\/workload/,
      /workload\/x\.ts: the Node watcher imports \.\.\/pool/,
      /pool\/x\.ts: only setup\.ts and main\.ts import the controllers/,
      /tasks\/manager\.ts: the task manager is generic: it imports nothing outside tasks\/, not \.\.\/ssh\/slots\.js/,
      /tasks\/manager\.ts: the task manager is generic: it imports nothing outside tasks\/, not \.\.\/host\/protocol\.js/,
      /controllers\/a\/status\.ts: status\.ts is pure/,
      /controller a imports controller b/,
      /views\/page\.tsx: views import only the model, not \.\.\/adapter/,
      /views\/page\.tsx: only the adapter imports the host API/,
      /big\.ts: 402 lines/,
      /long\.ts: function long is 87 lines/,
    ])
      assert.match(messages, want);
    assert.doesNotMatch(messages, /long\.test\.ts/);
    assert.doesNotMatch(messages, /\.\/task\.js/, "tasks/ may import its own folder");
  });
});
