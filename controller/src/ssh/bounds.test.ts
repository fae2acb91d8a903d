/**
 * What a hostile host can make the controller hold (H3): a real ssh2 client (Ssh2Dialer) against
 * in-process hostile ssh2 servers on loopback. Prints the figures the issue asks for.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ed25519KeyPair, type HostileServer, rssSampler, startHostile } from "../../../test/bed/hostile.js";
import { LineSplitter, OUTPUT_LIMITS, SSHError, Ssh2Dialer, Tail } from "./executor.js";

const clientKey = ed25519KeyPair().private;
const servers: HostileServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function dialHostile(s: HostileServer, connectTimeoutMs = 5000) {
  return new Ssh2Dialer().dial({
    host: s.host,
    port: s.port,
    user: "root",
    privateKey: clientKey,
    hostKeys: { mode: "pinned", keys: [s.hostPublicKey] },
    connectTimeoutMs,
  });
}

describe("Tail and LineSplitter", () => {
  it("Tail keeps the last bytes and counts the rest", () => {
    const t = new Tail(5);
    t.push(Buffer.from("abc"));
    t.push(Buffer.from("defg"));
    assert.equal(t.text(), "cdefg");
    assert.equal(t.dropped, 2);
  });
  it("LineSplitter splits across chunks and refuses an over-long line", () => {
    const got: string[] = [];
    const l = new LineSplitter(8, (x) => got.push(x));
    assert.ok(l.push(Buffer.from("ab\ncd")));
    assert.ok(l.push(Buffer.from("ef\n\ngh")));
    l.end();
    assert.deepEqual(got, ["ab", "cdef", "", "gh"]);
    const l2 = new LineSplitter(8, () => {});
    assert.ok(l2.push(Buffer.from("12345")));
    assert.ok(!l2.push(Buffer.from("6789")));
  });
  it("LineSplitter keeps multi-byte characters split across chunks whole", () => {
    const got: string[] = [];
    const l = new LineSplitter(64, (x) => got.push(x));
    const b = Buffer.from("é€\n");
    l.push(b.subarray(0, 1));
    l.push(b.subarray(1, 4));
    l.push(b.subarray(4));
    assert.deepEqual(got, ["é€"]);
  });
});

describe("a host that streams without end (H3)", () => {
  it("a probe's output over the limit stops the command with HostOutputTooLarge", async () => {
    const s = await startHostile({ kind: "flood", bytes: 1024 ** 3 });
    servers.push(s);
    const conn = await dialHostile(s);
    const rss = rssSampler();
    const t0 = Date.now();
    await assert.rejects(
      conn.exec("hostname", { timeoutMs: 30_000 }),
      (e: unknown) => e instanceof SSHError && e.reason === "HostOutputTooLarge" && /1048576 bytes/.test(e.message),
    );
    const r = rss.stop();
    conn.close();
    console.log(
      `H3 figure (probe, 1 GiB offered without a newline): stopped after ${Date.now() - t0} ms; the server got to send ${(s.sent / 1048576).toFixed(1)} MiB; rss ${r.startMiB.toFixed(0)} -> peak ${r.peakMiB.toFixed(0)} MiB`,
    );
    assert.ok(s.sent < 64 * 1048576, `the session was cut early (${s.sent} bytes sent)`);
  });

  it("a followed stream's line over the limit stops the session", async () => {
    const s = await startHostile({ kind: "flood", bytes: 1024 ** 3 });
    servers.push(s);
    const conn = await dialHostile(s);
    const lines: string[] = [];
    await assert.rejects(
      conn.exec("follow", { onLine: (l) => lines.push(l) }),
      (e: unknown) =>
        e instanceof SSHError && e.reason === "HostOutputTooLarge" && e.message.includes(`${OUTPUT_LIMITS.lineBytes}`),
    );
    conn.close();
    assert.deepEqual(lines, []);
  });

  it("1 GiB without a newline through a kept tail: RSS stays bounded (figure: < 300 MiB)", async () => {
    const GiB = 1024 ** 3;
    const s = await startHostile({ kind: "flood", bytes: GiB });
    servers.push(s);
    const conn = await dialHostile(s);
    global.gc?.();
    const rss = rssSampler();
    const t0 = Date.now();
    const r = await conn.exec("tail", { keepLast: true, timeoutMs: 600_000 });
    const m = rss.stop();
    conn.close();
    console.log(
      `H3 figure (1 GiB streamed to the end, last ${OUTPUT_LIMITS.stdoutBytes} bytes kept): ${(s.sent / GiB).toFixed(2)} GiB in ${Date.now() - t0} ms; kept ${r.stdout.length} bytes; rss ${m.startMiB.toFixed(0)} -> peak ${m.peakMiB.toFixed(0)} MiB`,
    );
    assert.ok(s.sent >= GiB);
    assert.equal(r.stdout.length, OUTPUT_LIMITS.stdoutBytes);
    assert.ok(m.peakMiB < 300, `peak RSS ${m.peakMiB} MiB`);
  });
});

describe("a host that never finishes (H3, keepalives answered)", () => {
  it("a command without an end is bounded by its timeout", async () => {
    const s = await startHostile({ kind: "hang" });
    servers.push(s);
    const conn = await dialHostile(s);
    const t0 = Date.now();
    await assert.rejects(
      conn.exec("hostname", { timeoutMs: 1500 }),
      (e: unknown) => e instanceof SSHError && e.reason === "Timeout",
    );
    console.log(`hang figure: the command was given up after ${Date.now() - t0} ms (timeout 1500 ms)`);
    conn.close();
  });
});

describe("before the handshake (trickle, banner)", () => {
  for (const mode of [
    { kind: "trickle", intervalMs: 200 },
    { kind: "banner", lines: 4096, lineBytes: 8192 },
  ] as const) {
    it(`${mode.kind}: the connect gives up within connectSeconds`, async () => {
      const s = await startHostile(mode);
      servers.push(s);
      const rss = rssSampler();
      const t0 = Date.now();
      await assert.rejects(
        dialHostile(s, 2000),
        (e: unknown) => e instanceof SSHError && e.reason === "HostUnreachable",
      );
      const ms = Date.now() - t0;
      const m = rss.stop();
      console.log(
        `${mode.kind} figure: refused after ${ms} ms (connect timeout 2000 ms); server sent ${s.sent} bytes; rss peak +${(m.peakMiB - m.startMiB).toFixed(0)} MiB`,
      );
      assert.ok(ms < 5000, `${ms} ms`);
    });
  }
});
