/** Writes crds/ from the models (`npm run gen:crds`). `--check` only reports stale files. */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrdFiles } from "../src/crd.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "crds");
const check = process.argv.includes("--check");
const files = renderCrdFiles();
let stale = 0;
for (const [name, text] of files) {
  let old = "";
  try {
    old = readFileSync(join(dir, name), "utf8");
  } catch {}
  if (old === text) continue;
  stale++;
  if (check) console.error(`stale: crds/${name}`);
  else writeFileSync(join(dir, name), text);
}
for (const name of readdirSync(dir)) {
  if (files.has(name)) continue;
  stale++;
  if (check) console.error(`not generated: crds/${name}`);
  else rmSync(join(dir, name));
}
if (check && stale) {
  console.error("crds/ is stale: run `npm run gen:crds`");
  process.exit(1);
}
console.log(check ? "crds/ is up to date" : `crds/: ${files.size} files, ${stale} changed`);
