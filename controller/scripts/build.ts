/**
 * Bundles the controller into one ESM file for the container image (`npm run build -w
 * @capi-remote/controller`): no TypeScript loader at run time and only ssh2's optional native
 * add-ons left out (ssh2 falls back to JavaScript crypto without them).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { scriptSources } from "../src/host/scripts.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const OUTFILE = join(root, "dist", "controller.mjs");

/** The build's constant that carries the host scripts (see src/host/scripts.ts). */
export const hostScriptsDefine = () => ({ __CAPI_REMOTE_HOST_SCRIPTS__: JSON.stringify(scriptSources()) });

/** Bundled CommonJS (ssh2, client-node's dependencies, yaml) calls require() for Node's modules. */
const REQUIRE_BANNER = {
  js: [
    "import { createRequire as __crRequire } from 'node:module';",
    "import { dirname as __crDirname } from 'node:path';",
    "import { fileURLToPath as __crPath } from 'node:url';",
    "const require = __crRequire(import.meta.url);",
    "const __filename = __crPath(import.meta.url);",
    "const __dirname = __crDirname(__filename);",
  ].join(" "),
};

export async function buildController(outfile = OUTFILE): Promise<string> {
  // The bootstrap data planner's worker thread (src/cloudinit/planpool.ts) loads its own bundle,
  // beside the controller's.
  await build({
    entryPoints: [join(root, "src", "cloudinit", "planworker.ts")],
    outfile: join(dirname(outfile), "planworker.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    banner: REQUIRE_BANNER,
    logLevel: "warning",
  });
  await build({
    entryPoints: [join(root, "src", "main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    minify: false,
    legalComments: "linked",
    // ssh2's optional native add-ons: loaded with require() inside try/catch.
    external: ["cpu-features", "*.node"],
    banner: REQUIRE_BANNER,
    // The shell programs that run on machines (src/host/scripts/*.sh), carried in the bundle.
    define: hostScriptsDefine(),
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildController();
  console.log(`built ${out}`);
}
