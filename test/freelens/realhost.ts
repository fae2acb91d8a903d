/**
 * Helpers of the real-host suite: preparing Freelens's tree (extension/test/realhost/prepare.sh,
 * cached outside the repository) and running our jest suites inside it with Freelens's own jest
 * configuration and Node 22.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { REPO_ROOT } from "../bed/index.js";
import { scratchDir } from "../bed/util.js";

const cache = () => process.env.CAPI_REMOTE_CACHE ?? join(homedir(), ".cache", "capi-remote");

/** Prepares (or reuses) the Freelens tree; prints how long a cold preparation took. */
export function prepareFreelens(): Promise<string> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn("bash", [join(REPO_ROOT, "extension/test/realhost/prepare.sh")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`preparing Freelens failed (${code}):\n${err.slice(-4000)}`));
      const tree = out.trim().split("\n").pop() ?? "";
      if (err.includes("prepared"))
        console.log(`# Freelens tree prepared cold in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      else console.log(`# Freelens tree from the cache (${tree})`);
      resolve(tree);
    });
  });
}

export interface JestResult {
  /** The jest file (as named in the repository, *.jest.tsx). */
  file: string;
  title: string;
  status: string;
  duration?: number;
  failureMessages: string[];
}

/**
 * Runs our jest files inside Freelens's packages/core (where its jest config, ts-jest and module
 * mapping live), in one jest process (the files share its transform cache), from a directory of
 * their own that is removed afterwards.
 */
export async function runJest(
  tree: string,
  from: string,
  files: string[],
  env: Record<string, string>,
): Promise<JestResult[]> {
  const core = join(tree, "packages/core");
  const dir = mkdtempSync(join(core, "src", "capi-remote-"));
  const out = join(scratchDir("jest-"), "results.json");
  // A failed wait dumps the page's markup here (harness.tsx); kept, and named, when the run fails.
  const dumps = scratchDir("realhost-dumps-", { keep: "on-failure" });
  // Our jest files are named *.jest.tsx so the project's own test runner leaves them alone;
  // inside Freelens's tree they become *.test.tsx for its jest.
  cpSync(from, dir, { recursive: true });
  for (const f of readdirSync(dir))
    if (f.endsWith(".jest.tsx")) renameSync(join(dir, f), join(dir, f.replace(/\.jest\.tsx$/, ".test.tsx")));
  const node = join(cache(), "freelens-tools/node/bin/node");
  try {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        "nice",
        [
          "-n",
          "5",
          node,
          // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a run.
          ...(process.env.CAPI_REALHOST_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
          join(core, "node_modules/jest/bin/jest.js"),
          "--runInBand",
          "--forceExit",
          "--json",
          `--outputFile=${out}`,
          "--testTimeout=120000",
          `--cacheDirectory=${join(cache(), "freelens-jest-cache")}`,
          ...files.map((f) => join(dir, f.replace(/\.jest\.tsx$/, ".test.tsx"))),
        ],
        {
          cwd: core,
          stdio: ["ignore", "inherit", "inherit"],
          env: {
            ...process.env,
            CAPI_REALHOST_DUMPS: dumps,
            ...env,
            RTL_SKIP_AUTO_CLEANUP: "true",
            PATH: `${join(cache(), "freelens-tools/node/bin")}:${process.env.PATH}`,
          },
        },
      );
      child.on("exit", (c) => resolve(c ?? 1));
    });
    if (!existsSync(out)) throw new Error(`jest exited ${code} without results`);
    const json = JSON.parse(readFileSync(out, "utf8")) as {
      testResults: {
        name: string;
        message: string;
        assertionResults: { fullName: string; status: string; duration?: number; failureMessages: string[] }[];
      }[];
    };
    const ours = (name: string) => basename(name).replace(/\.test\.tsx$/, ".jest.tsx");
    const results = json.testResults.flatMap((f) =>
      f.assertionResults.length
        ? f.assertionResults.map((a) => ({
            file: ours(f.name),
            title: a.fullName,
            status: a.status,
            duration: a.duration,
            failureMessages: a.failureMessages,
          }))
        : [{ file: ours(f.name), title: `${ours(f.name)} (suite)`, status: "failed", failureMessages: [f.message] }],
    );
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(out, ".."), { recursive: true, force: true });
  }
}
