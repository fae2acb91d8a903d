/**
 * The test command (`npm test`): lint and format check, type check, the structure rules
 * (scripts/checks/structure.ts), then every test file in one
 * `node --test` run, so one summary covers unit, integration and end-to-end tests.
 *
 * Integration tests need root (network namespaces for SSH test hosts), Debian packages and
 * binaries built from Go modules; this script installs and builds what is missing (cached in
 * ~/.cache/capi-remote), starts one shared test bed (kube-apiserver, etcd, Cluster API manager,
 * our CRDs) and passes it to the test processes through CAPI_REMOTE_TESTBED.
 *
 * Test scratch folders (test/bed/util.ts `scratchDir`) go to a folder of this run; a folder
 * the tests leave there fails the run, named, and is removed.
 *
 *   npm test                 everything
 *   npm test -- --unit       lint, types and unit tests only (no test bed)
 *   npm test -- FILE...      lint, types and just these test files
 *   npm test -- --no-checks FILE...   skip lint and types (while iterating on a test)
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { reapStaleHosts } from "../test/bed/hosts.js";
import { ENV_VAR, REPO_ROOT, reapStaleBeds, startTestBed } from "../test/bed/index.js";
import { startScratchRun } from "../test/bed/util.js";
import { ensureBinaries, KUBEADM_BINARIES } from "../test/bed/versions.js";

const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const noChecks = args.includes("--no-checks");
const explicit = args.filter((a) => !a.startsWith("--"));
const bin = (name: string) => join(REPO_ROOT, "node_modules", ".bin", name);

function run(cmd: string, cmdArgs: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { stdio: "inherit", cwd: REPO_ROOT, env: { ...process.env, ...env } });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

function step(name: string) {
  console.log(`\n== ${name}`);
}

/** Test files under a directory (`*.test.ts`, `*.test.tsx`), skipping dependencies. */
function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (/\.test\.tsx?$/.test(name)) out.push(p);
  }
  return out;
}

const isIntegration = (f: string) => relative(REPO_ROOT, f).startsWith("test/");

async function main(): Promise<number> {
  if (!noChecks) {
    step("lint and format (biome)");
    if ((await run(bin("biome"), ["check", "."])) !== 0) return 1;
    step("types (tsc)");
    for (const project of ["tsconfig.json", "extension/tsconfig.json"]) {
      if (!existsSync(join(REPO_ROOT, project))) continue;
      if ((await run(bin("tsc"), ["-p", project])) !== 0) return 1;
    }
    step("structure (import boundaries, file and function sizes; docs/architecture.md)");
    if ((await run(bin("tsx"), [join(REPO_ROOT, "scripts/checks/structure.ts")])) !== 0) return 1;
  }

  let files = explicit.length
    ? explicit.map((f) => join(process.cwd(), f))
    : ["shared", "controller", "extension", "test", "scripts/checks"].flatMap((d) => findTests(join(REPO_ROOT, d)));
  if (unitOnly) files = files.filter((f) => !isIntegration(f));
  const needBed = files.some(isIntegration);

  let stopBed = async () => {};
  const env: NodeJS.ProcessEnv = {};
  if (needBed) {
    step("test bed");
    if (process.getuid?.() !== 0) {
      console.error("integration tests need root (network namespaces for SSH test hosts); run as root or use --unit");
      return 1;
    }
    const kubeadm = files.some((f) => /\/kubeadm[^/]*\.test\.ts$/.test(f));
    const deps = ["--browser", ...(kubeadm ? ["--kubeadm"] : [])];
    if ((await run("bash", [join(REPO_ROOT, "test/bed/install-system-deps.sh"), ...deps])) !== 0) return 1;
    await ensureBinaries(["etcd", "kube-apiserver", "capi-manager", "clusterctl"]);
    // The real-node suite's binaries (kubelet, kubeadm, CABPK, ...) build while the other suites
    // run; that suite waits for them (the build script's lock) in its own bed's start.
    if (kubeadm) ensureBinaries(KUBEADM_BINARIES).catch((e) => console.error(`kubeadm bed binaries: ${e}`));
    const reaped = (await reapStaleBeds()) + (await reapStaleHosts());
    if (reaped) console.log(`stopped ${reaped} leftovers of an earlier aborted run`);
    const t0 = Date.now();
    const bed = await startTestBed();
    console.log(`test bed up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${bed.controlPlane.server}`);
    env[ENV_VAR] = join(bed.dir, "bed.json");
    stopBed = bed.stop;
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.once(sig, () => {
        void bed.stop().finally(() => process.exit(130));
      });
    }
  }

  step(`tests (${files.length} files)`);
  const results = join(REPO_ROOT, "test-results");
  mkdirSync(results, { recursive: true });
  const scratch = startScratchRun();
  Object.assign(env, scratch.env);
  try {
    const code = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "--test",
        "--test-concurrency=3",
        "--test-timeout=900000",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=junit",
        `--test-reporter-destination=${join(results, "junit.xml")}`,
        ...files,
      ],
      env,
    );
    const left = scratch.finish();
    if (left.length) console.error(`\nscratch folders the tests left behind (removed now): ${left.join(" ")}`);
    return left.length ? 1 : code;
  } finally {
    await stopBed();
  }
}

process.exitCode = await main();
