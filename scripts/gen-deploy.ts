/** Writes deploy/ from scripts/manifests.ts (`npm run gen:deploy`). `--check` only reports stale files. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "../test/bed/index.js";
import { renderDeployFiles } from "./manifests.js";

const check = process.argv.includes("--check");
let stale = 0;
for (const [name, text] of renderDeployFiles()) {
  const path = join(REPO_ROOT, "deploy", name);
  let old = "";
  try {
    old = readFileSync(path, "utf8");
  } catch {}
  if (old === text) continue;
  stale++;
  if (check) console.error(`stale: deploy/${name}`);
  else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}
if (check && stale) {
  console.error("deploy/ is stale: run `npm run gen:deploy`");
  process.exit(1);
}
console.log(check ? "deploy/ is up to date" : `deploy/: ${stale} files written`);
