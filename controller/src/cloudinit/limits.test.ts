/**
 * Bootstrap data that costs far more than its size (H2, L9): gzip bombs and counts. Each must end
 * in a terminal InvalidBootstrapData naming the field and the limit, quickly and within a memory
 * bound; the figures are printed.
 */
import assert from "node:assert/strict";
import { loadavg } from "node:os";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { BOOTSTRAP_LIMITS } from "./limits.js";
import { BootstrapDataError, planBootstrap } from "./plan.js";

function measure<T>(fn: () => T): { ms: number; rssMiB: number; maxLagMs: number; result: T | unknown } {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let result: T | unknown;
  try {
    result = fn();
  } catch (e) {
    result = e;
  }
  const ms = performance.now() - t0;
  return { ms, rssMiB: (process.memoryUsage().rss - rss0) / 1048576, maxLagMs: ms, result };
}

const isLimit = (r: unknown, re: RegExp) =>
  r instanceof BootstrapDataError && r.reason === "InvalidBootstrapData" && re.test(r.message);

describe("bootstrap data limits", () => {
  it("a 100 KiB gzip bomb is refused within 5 s and 100 MiB (figure)", () => {
    // About 100 MiB of zeros gzips to ~100 KiB: the size the issue names.
    const gz = gzipSync(Buffer.alloc(100 * 1048576));
    const data = `#cloud-config\nwrite_files:\n- {path: /tmp/x, encoding: gz+b64, content: ${gz.toString("base64")}}\n`;
    const m = measure(() => planBootstrap(data, "cloud-config"));
    console.log(
      `H2 figure: gzip bomb of ${(data.length / 1024).toFixed(0)} KiB (100 MiB expanded): refused in ${m.ms.toFixed(0)} ms, rss +${m.rssMiB.toFixed(0)} MiB: ${(m.result as Error).message}`,
    );
    assert.ok(isLimit(m.result, /write_files\[0\]\.content decodes to more than 16 MiB, the limit per file/));
    assert.ok(m.ms < 5000 && m.rssMiB < 100);
  });

  it("several smaller bombs are refused at the total", () => {
    const gz = gzipSync(Buffer.alloc(10 * 1048576)).toString("base64");
    const data = `#cloud-config\nwrite_files:\n${[0, 1].map((i) => `- {path: /tmp/x${i}, encoding: gzip+base64, content: ${gz}}`).join("\n")}\n`;
    assert.throws(
      () => planBootstrap(data, "cloud-config"),
      (e: unknown) => isLimit(e, /decode to more than 16 MiB in all \(over the limit at write_files\[1\]\)/),
    );
  });

  it("1 MiB of data with 20,000 write_files is refused within 100 MiB (figure: time)", () => {
    const lines = ["#cloud-config", "write_files:"];
    // 20,000 entries padded to just under 1 MiB (a Secret's limit).
    const pad = "x".repeat(Math.floor((1024 * 1024 - 30 - 20_000 * 30) / 20_000));
    for (let i = 0; i < 20_000; i++) lines.push(`- {path: /f${i}, content: ${pad}}`);
    assert.ok(lines.join("\n").length <= 1024 * 1024);
    const data = lines.join("\n");
    const m = measure(() => planBootstrap(data, "cloud-config"));
    console.log(
      `L9 figure: ${lines.length - 2} write_files in ${(data.length / 1024).toFixed(0)} KiB: refused in ${m.ms.toFixed(0)} ms (the planner itself, on this thread; the controller runs it in a worker: planpool.test.ts; load average ${loadavg()[0].toFixed(1)}), rss +${m.rssMiB.toFixed(0)} MiB: ${(m.result as Error).message}`,
    );
    // Refused while lexing, before a document is built.
    assert.ok(isLimit(m.result, /more than 200000 YAML tokens; at most 200000 are allowed/));
    // The time is printed, not asserted: it is the lexer's, on a CPU shared with the rest of the
    // suite. Memory does not depend on load.
    assert.ok(m.rssMiB < 100, `rss +${m.rssMiB} MiB`);
  });

  it("under the token limit, 10,000 write_files are refused by their count", () => {
    const lines = ["#cloud-config", "write_files:"];
    for (let i = 0; i < 10_000; i++) lines.push(`- {path: /f${i}, content: x}`);
    assert.throws(
      () => planBootstrap(lines.join("\n"), "cloud-config"),
      (e: unknown) =>
        isLimit(e, new RegExp(`write_files has 10000 entries; at most ${BOOTSTRAP_LIMITS.writeFiles} are allowed`)),
    );
  });

  it("the largest data the counts admit plans: 1,024 files and 1,024 commands in 1 MiB", () => {
    const lines = ["#cloud-config", "write_files:"];
    for (let i = 0; i < 1024; i++)
      lines.push(
        `- path: /etc/some/dir/file-${i}.conf\n  permissions: "0644"\n  owner: root:root\n  content: |\n    ${"x".repeat(800)}`,
      );
    lines.push("runcmd:");
    for (let i = 0; i < 1024; i++) lines.push(`- [kubeadm, join, --config, /run/kubeadm/join-${i}.yaml, --v, "5"]`);
    const data = lines.join("\n");
    assert.ok(data.length <= 1024 * 1024);
    assert.equal(planBootstrap(data, "cloud-config").steps.length, 2048);
  });

  it("data over 1 MiB, and too many commands, are refused by name", () => {
    assert.throws(
      () => planBootstrap(`#cloud-config\n#${"x".repeat(1024 * 1024)}`, "cloud-config"),
      (e: unknown) => isLimit(e, /bootstrap data is \d+ bytes; at most 1048576/),
    );
    const cmds = `#cloud-config\nruncmd:\n${Array(1025).fill("- true").join("\n")}\n`;
    assert.throws(
      () => planBootstrap(cmds, "cloud-config"),
      (e: unknown) => isLimit(e, /runcmd has 1025 entries; at most 1024/),
    );
  });

  it("data within the limits still plans (a 4 MiB gzip file)", () => {
    const gz = gzipSync(Buffer.alloc(4 * 1048576, "a")).toString("base64");
    const plan = planBootstrap(
      `#cloud-config\nwrite_files:\n- {path: /tmp/x, encoding: gz+b64, content: ${gz}}\n`,
      "cloud-config",
    );
    const f = plan.steps[0];
    assert.ok(f?.kind === "file" && Buffer.from(f.contentB64, "base64").length === 4 * 1048576);
  });
});
