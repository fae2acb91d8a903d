/**
 * The host type declarations the extension is checked against besides Lens 6.5.2's (which come
 * with `@k8slens/extensions` in node_modules): Freelens 1.9.0's, fetched from npm into a cache
 * outside the repository. Only the declaration packages are fetched (`npm pack`, no install):
 * `@freelensapp/core` depends on about 110 runtime packages (Electron, Monaco, ...) that a type
 * check does not need, and a plain `npm i @freelensapp/extensions@1.9.0` fails on an
 * unpublished `@freelensapp/application@^1.10.3`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const EXTENSION_DIR = resolve(here, "../..");
const REPO = resolve(EXTENSION_DIR, "..");

/** The Freelens declaration packages the extension API's types refer to, at 1.9.0. */
const FREELENS = [
  "extensions",
  "core",
  "kube-object",
  "kube-api",
  "utilities",
  "json-api",
  "logger",
  "list-layout",
  "icon",
  "tooltip",
  "notifications",
  "legacy-extensions",
  "messaging",
  "cluster-sidebar",
  "run-many",
];
const OTHERS = ["@ogre-tools/injectable@17.11.1", "@ogre-tools/injectable-react@17.11.1"];

const cacheRoot = () => process.env.CAPI_REMOTE_CACHE ?? join(homedir(), ".cache", "capi-remote");

/** Fetches the declarations once (a stamp marks a complete set) and returns their node_modules. */
export function freelensTypes(): string {
  const dir = join(cacheRoot(), "host-types", "freelens-1.9.0");
  const modules = join(dir, "node_modules");
  if (existsSync(join(dir, ".ready"))) return modules;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "dl"), { recursive: true });
  const specs = [...FREELENS.map((p) => `@freelensapp/${p}@1.9.0`), ...OTHERS];
  execFileSync("npm", ["pack", "--silent", ...specs], { cwd: join(tmp, "dl"), stdio: ["ignore", "ignore", "inherit"] });
  for (const spec of specs) {
    const name = spec.slice(0, spec.lastIndexOf("@"));
    const tgz = readdirSync(join(tmp, "dl")).find(
      (f) => f === `${name.slice(1).replace("/", "-")}-${spec.slice(spec.lastIndexOf("@") + 1)}.tgz`,
    );
    if (!tgz) throw new Error(`npm pack ${spec} made no tarball`);
    const to = join(tmp, "node_modules", name);
    mkdirSync(to, { recursive: true });
    execFileSync("tar", ["xzf", join(tmp, "dl", tgz), "-C", to, "--strip-components=1"]);
  }
  rmSync(join(tmp, "dl"), { recursive: true });
  writeFileSync(join(tmp, ".ready"), "1\n");
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return modules;
}

/**
 * A tsconfig that checks the extension's sources against Freelens 1.9.0: `@k8slens/extensions`
 * (what the sources import; the host provides it as a global either way) is mapped to
 * `@freelensapp/extensions`, and the declarations' own imports of React and MobX to the
 * versions the extension is built with.
 */
export function freelensTsconfig(extraFiles: string[] = []): string {
  const modules = freelensTypes();
  const lib = join(modules, "@freelensapp/core/static/build/library/src");
  const repoModules = join(REPO, "node_modules");
  const config = {
    extends: join(EXTENSION_DIR, "tsconfig.json"),
    compilerOptions: {
      typeRoots: [join(repoModules, "@types")],
      paths: {
        "@k8slens/extensions": [join(modules, "@freelensapp/extensions/dist/extension-api.d.ts")],
        "@freelensapp/core/renderer": [join(lib, "renderer/library.d.ts")],
        "@freelensapp/core/main": [join(lib, "main/library.d.ts")],
        "@freelensapp/*": [join(modules, "@freelensapp/*")],
        "@ogre-tools/*": [join(modules, "@ogre-tools/*")],
        "*": [join(repoModules, "@types/*"), join(repoModules, "*")],
      },
    },
    include: [join(EXTENSION_DIR, "src"), join(here, "host-api-guard.ts"), ...extraFiles],
    exclude: [join(EXTENSION_DIR, "src/**/*.test.ts")],
  };
  const file = join(cacheRoot(), "host-types", `tsconfig.freelens-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Runs tsc on a project; returns its exit code and output. */
export function tsc(project: string): { code: number; output: string } {
  try {
    const output = execFileSync(join(REPO, "node_modules/.bin/tsc"), ["-p", project, "--pretty", "false"], {
      encoding: "utf8",
    });
    return { code: 0, output };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}
