/**
 * Hostile SSH servers behind RemoteMachines on the real bed (API server, Cluster API, the bundled
 * controller as the image runs it, watching all namespaces): a server that trickles its
 * handshake, one that sends a huge banner before its identification, one that streams without
 * end, and one that answers keepalives but never finishes a channel (test/bed/hostile.ts). Each
 * sits in namespace A; for each, what a user sees is asserted: a condition whose reason and
 * message name the limit, an Event, the time it took (bounded by that limit), the controller's
 * memory, that nothing of the bootstrap data was sent, and that a healthy machine of namespace B
 * still starts its bootstrap within 5 s meanwhile. The figures are printed.
 *
 * Two namespaces need a controller that watches all namespaces, so this suite runs its own bed
 * (as adversarial-fairness.test.ts does): a cluster-wide controller on the shared bed would
 * reconcile other suites' objects.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { after, before, describe, it } from "node:test";
import { type KeyPair, makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { type HostileMode, type HostileServer, startHostile } from "../bed/hostile.js";
import { createHost, destroyHost, type TestHost } from "../bed/hosts.js";
import { canMakeHosts, startTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
import {
  type Any,
  bundledController,
  ControllerProcess,
  makeCluster,
  makeMachine,
  objects,
  testBootstrap,
  timeToBootstrapStart,
} from "./harness.js";

/** In every hostile machine's bootstrap data: must never reach a hostile server. */
const CANARY = "HostileSshJoinToken-0b7e41c95a";

interface Case {
  name: string;
  what: string;
  mode: HostileMode;
  timeouts?: { connectSeconds: number };
  reason: string;
  /** The message names the limit. */
  message: RegExp;
  /** What the limit allows, plus the controller's own retry and the API's latency. */
  boundMs: number;
}

const CASES: Case[] = [
  {
    name: "trickle",
    what: "a server that trickles its identification one byte a second",
    mode: { kind: "trickle", intervalMs: 1000 },
    timeouts: { connectSeconds: 5 },
    reason: "HostUnreachable",
    message: /no SSH answer in time .*spec\.timeouts\.connectSeconds, 5 s/,
    boundMs: 5000 + 10_000,
  },
  {
    name: "banner",
    what: "a server that sends 4,096 pre-identification lines of 8 KiB",
    mode: { kind: "banner", lines: 4096, lineBytes: 8192 },
    timeouts: { connectSeconds: 5 },
    reason: "HostUnreachable",
    message: /no SSH answer in time .*spec\.timeouts\.connectSeconds, 5 s/,
    boundMs: 5000 + 10_000,
  },
  {
    name: "stream",
    what: "a server that streams output without end and without a newline",
    mode: { kind: "flood", bytes: Number.POSITIVE_INFINITY },
    reason: "HostOutputTooLarge",
    message: /more than 1048576 bytes/,
    boundMs: 20_000,
  },
  {
    name: "hang",
    what: "a server that answers keepalives but never finishes a channel",
    mode: { kind: "hang" },
    reason: "HostUnreachable",
    // The bootstrap's first command (the machine's state) has 30 s.
    message: /the command did not finish within 30000 ms/,
    boundMs: 30_000 + 10_000,
  },
];

describe("adversarial: hostile SSH servers on the real bed", {
  skip: canMakeHosts() ? false : "test hosts need root",
}, () => {
  let bed: TestBed;
  let ctl: ControllerProcess | undefined;
  let host: TestHost;
  let key: KeyPair;
  const servers: HostileServer[] = [];
  const suffix = Math.random().toString(16).slice(2, 8);
  const nsA = `advs-a-${suffix}`;
  const nsB = `advs-b-${suffix}`;

  before(async () => {
    bed = await startTestBed();
    key = await makeKeyPair("ed25519");
    host = await createHost("advs-b", [key.publicKey]);
    for (const ns of [nsA, nsB]) {
      await ensureNamespace(bed.clients, ns);
      await objects(bed, ns).apply([sshKeySecret(ns, "key", key)]);
      await makeCluster(bed, ns, "c1");
    }
    // `--namespace=` empty: all namespaces. The bundle the image runs, so the memory figures are
    // the controller's as users run it.
    ctl = new ControllerProcess(bed, nsA, "advs", ["--namespace="]);
    ctl.entry = await bundledController("advs-");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    for (const s of servers) await s.close();
    if (host) await destroyHost(host);
    await bed?.stop();
  });

  const status = (field: "VmRSS" | "VmHWM") => {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${ctl?.child?.pid}/status`, "utf8"));
    return Number(m?.[1] ?? 0) / 1024;
  };
  /** Ms from now until B's RemoteMachine records its bootstrap's start; undefined if not within the time. */
  const timeToStart = (name: string, timeoutMs: number) =>
    timeToBootstrapStart(
      bed,
      nsB,
      name,
      () =>
        makeMachine(
          bed,
          nsB,
          name,
          "c1",
          { address: host.address, sshKeyRef: { name: "key" }, hostKeys: [host.knownHostsLine] },
          testBootstrap(bed, { registerNode: false }),
        ),
      timeoutMs,
    );

  it("baseline: B's machine starts its bootstrap with no hostile server around", async () => {
    const ms = await timeToStart("b-baseline", 60_000);
    console.log(`hostile SSH baseline: B's bootstrap started ${ms} ms after its objects were created`);
    assert.ok(ms !== undefined, "B never started");
  });

  for (const c of CASES) {
    it(`${c.what}: ${c.reason} naming the limit, an Event, bounded time and memory; B unaffected`, async () => {
      const s = await startHostile(c.mode);
      servers.push(s);
      const a = objects(bed, nsA);
      const name = `h-${c.name}`;
      const rss0 = status("VmRSS");
      const t0 = Date.now();
      await makeMachine(
        bed,
        nsA,
        name,
        "c1",
        {
          address: s.host,
          port: s.port,
          sshKeyRef: { name: "key" },
          hostKeys: [s.hostPublicKey],
          ...(c.timeouts ? { timeouts: c.timeouts } : {}),
        },
        testBootstrap(bed, { extra: `  - echo ${CANARY} > /root/canary\n` }),
      );
      // B's machine is created while A's hostile server holds the controller's attention.
      const [bMs, cond] = await Promise.all([
        timeToStart(`b-${c.name}`, 60_000),
        waitFor(
          `${name}: a condition with reason ${c.reason}`,
          async () => {
            const rm = await a.rm(name);
            const x = (rm.status?.conditions ?? []).find((y: Any) => y.reason === c.reason);
            if (x) return { ...(x as Any), ms: Date.now() - t0 } as Any;
            throw new Error(
              `conditions now ${JSON.stringify(rm.status?.conditions?.map((y: Any) => [y.type, y.reason]))}`,
            );
          },
          { timeoutMs: c.boundMs + 60_000, intervalMs: 100 },
        ),
      ]);
      await waitFor(
        `${name}: Event ${c.reason}`,
        async () => (await a.events(name)).some((e) => e.reason === c.reason),
        {
          timeoutMs: 15_000,
        },
      );
      console.log(
        `hostile SSH figure (${c.name}): ${c.what}: ${cond.type}=${cond.status} ${c.reason} after ${cond.ms} ms ("${String(cond.message).slice(0, 200)}"); the server got ${s.connections} connections, sent ${(s.sent / 1048576).toFixed(1)} MiB, received ${s.stdinBytes} bytes of input; controller RSS ${rss0.toFixed(0)} MiB before, ${status("VmRSS").toFixed(0)} MiB after, peak (VmHWM) ${status("VmHWM").toFixed(0)} MiB; namespace B's bootstrap started ${bMs} ms after its objects were created; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`,
      );
      assert.match(String(cond.message), c.message);
      assert.ok(cond.ms < c.boundMs, `${c.reason} after ${cond.ms} ms, beyond ${c.boundMs} ms`);
      assert.ok(status("VmHWM") < 300, `controller peak RSS ${status("VmHWM")} MiB`);
      // A server past its SSH handshake could be sent the data: it was not (before the handshake,
      // nothing can be).
      if (c.mode.kind === "flood" || c.mode.kind === "hang") assert.equal(s.stdinBytes, 0, "input was sent");
      // Given up, not retried into the same wall at once (the retry backs off).
      assert.ok(s.connections <= 3, `${s.connections} connections`);
      assert.ok(bMs !== undefined && bMs < 5000, `B's bootstrap started after ${bMs} ms`);
      // The hostile machine goes (its cleanup has nothing to do: nothing ran there).
      await a.deleteMachine(name);
      await waitFor(`${name} deleted`, async () => !(await a.rmOrUndefined(name)), { timeoutMs: 60_000 });
    });
  }

  it("nothing of the data leaked to the controller's log or Events", async () => {
    assert.ok(!(await ctl?.log())?.includes(CANARY), "the canary is in the controller's log");
    const events = JSON.stringify(await objects(bed, nsA).allEvents());
    assert.ok(!events.includes(CANARY), "the canary is in an Event");
  });
});
