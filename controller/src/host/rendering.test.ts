/**
 * Pins what goes to machines byte for byte: every shell program the controller renders, for
 * plans covering every kind of step, compared with `testdata/rendering.golden.json`. A change to
 * a script under `scripts/` or to the step rendering shows up here as a reviewed diff of the
 * golden file (regenerate it with `CAPI_REMOTE_UPDATE_GOLDEN=1`), never as a silent change.
 *
 * The script files and every rendering are also checked by `sh -n` under dash (the /bin/sh of
 * Debian and Ubuntu machines) and by `shellcheck` (a Debian package, installed by
 * test/bed/install-system-deps.sh); a missing checker fails the test, it never skips it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { scratchDir } from "../../../test/bed/util.js";
import { planBootstrap } from "../cloudinit/plan.js";
import { provisionScript } from "../provisionjob/job.js";
import { KILLED, killRunCommand, stateProbeCommand, TIMED_OUT, tailCommand } from "./protocol.js";
import { renderRunner, runInput, startAndFollowCommand, startCommand, watchCommand } from "./runner.js";

const GOLDEN = fileURLToPath(new URL("./testdata/rendering.golden.json", import.meta.url));
const STATE = "/var/lib/capi-remote/team-a.cp-0";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Plans that between them reach every branch of the step rendering. */
const FIXTURES: Record<string, { data: string; commandsAsScript?: boolean; limit?: number }> = {
  kubeadm: {
    data: `## template: jinja
#cloud-config
write_files:
-   path: /etc/kubernetes/pki/ca.crt
    owner: root:root
    permissions: '0640'
    content: "-----BEGIN CERTIFICATE-----\\nMIIC\\n-----END CERTIFICATE-----\\n"
-   path: /run/kubeadm/kubeadm-join-config.yaml
    permissions: '0640'
    content: "nodeRegistration:\\n  name: '{{ ds.meta_data.hostname }}'\\n"
runcmd:
  - kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  && echo success > /run/cluster-api/bootstrap-success.complete
`,
  },
  k0s: {
    data: `#cloud-config
write_files:
- path: /etc/k0s.token
  permissions: "0600"
  content: token
runcmd:
- curl -sSfL https://get.k0s.sh | sh
- k0s install worker --token-file /etc/k0s.token
- k0s start
- mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete
`,
    limit: 1800,
  },
  everyKind: {
    data: `#cloud-config
bootcmd: ["echo boot", [sh, -c, "echo 'it''s'"]]
write_files:
- {path: /etc/a.conf, content: "a=1\\n"}
- {path: /etc/exec.sh, content: "#!/bin/sh\\necho hi\\n", permissions: "0755"}
- {path: /etc/owned, content: x, owner: "capi:capi", permissions: "0640"}
- {path: /etc/a.conf, content: "b=2\\n", append: true}
- {path: /etc/bin, encoding: b64, content: "${b64("\u0000\u0001binary")}"}
- {path: /etc/gz, encoding: gz+b64, content: "${gzipSync(Buffer.from("zipped\n")).toString("base64")}"}
- {path: /etc/late, content: late, defer: true}
- {path: "/etc/it's here", content: "q'uote"}
runcmd:
- echo run
- [kubeadm, join, "--token", "abc def"]
- touch /run/cluster-api/bootstrap-success.complete
`,
    limit: 7,
  },
  asScript: {
    data: `#cloud-config\nruncmd: ["echo one", [echo, two]]\n`,
    commandsAsScript: true,
  },
  shebang: { data: "#!/bin/bash\necho from a script\n" },
  empty: { data: "#cloud-config\n" },
  filesOnly: { data: `#cloud-config\nwrite_files: [{path: /etc/x, content: x}]\n` },
};

/** Random names (here-document markers, upload and temporary names) made stable. */
const stable = (s: string) =>
  s
    .replace(/CAPI_REMOTE_EOF_[0-9a-f]{12}/g, "CAPI_REMOTE_EOF_X")
    .replace(/\.capi-remote-[0-9a-f]{12}/g, ".capi-remote-X")
    .replace(/run\.sh\.[0-9a-f]{12}/g, "run.sh.X");

function renderAll(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, f] of Object.entries(FIXTURES)) {
    const plan = planBootstrap(f.data, "cloud-config", { hostname: "node-7", commandsAsScript: f.commandsAsScript });
    const opts = { stateDir: STATE, workingDir: "/root", commandTimeoutSeconds: f.limit ?? 1800, owner: "team-a/cp-0" };
    out[`runner/${name}`] = renderRunner(plan, opts);
    out[`runner/${name}+sentinel`] = renderRunner(plan, { ...opts, sentinel: "/tmp/sentinel" });
    out[`provisionScript/${name}`] = provisionScript(plan, opts);
  }
  out.startCommand = startCommand(STATE, 1234);
  out.startAndFollowCommand = startAndFollowCommand(STATE);
  out.watchCommand = watchCommand(STATE);
  out["watchCommand/0.05"] = watchCommand(STATE, 0.05);
  out["runInput.preamble"] = runInput.preamble(STATE, 1800, "/root");
  out["runInput.preamble/5"] = runInput.preamble(STATE, 5, "/var/it's");
  out["runInput.body"] = runInput.body("echo x");
  out["runInput.go"] = runInput.go;
  out.tailCommand = tailCommand(STATE, 15);
  out.stateProbe = stateProbeCommand(STATE, false, "root");
  out["stateProbe/sudo"] = stateProbeCommand(STATE, true, "capi");
  out["killRun/timeout"] = killRunCommand(STATE, TIMED_OUT, 10);
  out["killRun/delete"] = killRunCommand(STATE, KILLED, 5);
  out["runner/identity"] = renderRunner(planBootstrap('#cloud-config\nruncmd: ["true"]\n', "cloud-config", {}), {
    stateDir: STATE,
    workingDir: "/root",
    commandTimeoutSeconds: 60,
    owner: "team-a/cp-0",
    identity: { uid: "0f6c-uid", stamp: "2026-12-06T18:00:00.123Z" },
  });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, stable(v)]));
}

describe("rendering of what runs on machines", () => {
  it("is byte for byte the reviewed golden rendering", () => {
    const now = renderAll();
    if (process.env.CAPI_REMOTE_UPDATE_GOLDEN === "1") writeFileSync(GOLDEN, `${JSON.stringify(now, null, 2)}\n`);
    const golden = JSON.parse(readFileSync(GOLDEN, "utf8")) as Record<string, string>;
    assert.deepEqual(Object.keys(now).sort(), Object.keys(golden).sort());
    for (const k of Object.keys(golden)) assert.equal(now[k], golden[k], `rendering of ${k} changed`);
  });
});

/** Runs a checker; a missing one is a failure that says how to get it. */
function check(cmd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT")
    assert.fail(
      `${cmd} is not installed: \`apt-get install ${cmd === "dash" ? "dash" : "shellcheck"}\` (or run test/bed/install-system-deps.sh)`,
    );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the bundle carries the scripts", () => {
  it("a bundle run away from the source tree renders the same programs (no file read at run time)", async () => {
    const { build } = await import("esbuild");
    const { hostScriptsDefine } = await import("../../scripts/build.js");
    const tmp = scratchDir("host-bundle-");
    try {
      const outfile = join(tmp, "host.mjs");
      await build({
        entryPoints: [fileURLToPath(new URL("./runner.ts", import.meta.url))],
        outfile,
        bundle: true,
        platform: "node",
        format: "esm",
        define: hostScriptsDefine(),
        external: ["cpu-features", "*.node"],
        // Bundled CommonJS (yaml) calls require() for Node's modules.
        banner: {
          js: "import { createRequire } from 'node:module'; import { dirname as __d } from 'node:path'; import { fileURLToPath as __f } from 'node:url'; const require = createRequire(import.meta.url); const __filename = __f(import.meta.url); const __dirname = __d(__filename);",
        },
        logLevel: "warning",
      });
      const bundled = (await import(outfile)) as typeof import("./runner.js");
      const plan = planBootstrap(FIXTURES.everyKind?.data ?? "", "cloud-config", {});
      const opts = { stateDir: STATE, workingDir: "/root", commandTimeoutSeconds: 7, owner: "team-a/cp-0" };
      assert.equal(stable(bundled.renderRunner(plan, opts)), stable(renderRunner(plan, opts)));
      assert.equal(bundled.startAndFollowCommand(STATE), startAndFollowCommand(STATE));
      assert.equal(bundled.runInput.preamble(STATE, 5, "/w"), runInput.preamble(STATE, 5, "/w"));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("shell programs pass sh -n (dash) and shellcheck", () => {
  const dir = fileURLToPath(new URL("./scripts/", import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".sh"))
    .map((f) => join(dir, f));

  it("the script files, as written (with their shellcheck directives)", () => {
    assert.ok(files.length >= 10, `found only ${files.length} scripts in ${dir}`);
    for (const f of files) {
      const r = check("dash", ["-n", f]);
      assert.equal(r.code, 0, `dash -n ${f}: ${r.out}`);
    }
    const r = check("shellcheck", ["--shell=sh", "--severity=info", ...files]);
    assert.equal(r.code, 0, r.out);
  });

  it("every rendering of the golden set (comments, and so directives, dropped: warnings and errors)", () => {
    const tmp = scratchDir("rendered-");
    try {
      const out = Object.entries(renderAll()).map(([k, v]) => {
        const f = join(tmp, `${k.replace(/[^A-Za-z0-9.+-]/g, "_")}.sh`);
        writeFileSync(f, v.startsWith("#!") ? v : `#!/bin/sh\n${v}`);
        return f;
      });
      for (const f of out) {
        const r = check("dash", ["-n", f]);
        assert.equal(r.code, 0, `dash -n ${f}: ${r.out}`);
      }
      // SC2034: a fragment (the preamble) sets what the program sent after it reads.
      const r = check("shellcheck", ["--shell=sh", "--severity=warning", "--exclude=SC2034", ...out]);
      assert.equal(r.code, 0, r.out);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
