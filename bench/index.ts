/**
 * Runs benchmarks by name: `npm run bench -- claims`. Each prints its figures and compares them
 * with a baseline measured in the same run. Benchmarks are not part of `npm test`.
 */
import { readdir } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const available = (await readdir(here)).filter((f) => f.endsWith(".ts") && f !== "index.ts").map((f) => f.slice(0, -3));
const wanted = process.argv.slice(2);
if (wanted.length === 0 || wanted.some((w) => !available.includes(w))) {
  console.error(`usage: npm run bench -- <name>...\navailable: ${available.join(", ")}`);
  process.exit(2);
}
for (const name of wanted) {
  console.log(`== bench ${name}`);
  await import(`./${name}.ts`);
}
