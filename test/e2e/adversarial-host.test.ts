/**
 * Hostile hosts and networks against the real bed (API server, Cluster API, the controller as its
 * ServiceAccount, sshd test hosts) plus hostile SSH servers this test starts on loopback
 * (test/bed/hostile.ts): a host that streams without end, bastions that are not who they claim,
 * bootstrap data that explodes when decoded. Each test asserts what a user sees (a condition with
 * a reason naming the field or limit, an Event), that nothing ran or was sent, that nothing
 * leaked, that a legitimate machine of the same namespace provisions meanwhile, and prints its
 * figure (the controller process's peak RSS, times).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type KeyPair, makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { type HostileServer, startHostile } from "../bed/hostile.js";
import { createHost, destroyHost, hostExec, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { sleepsOf, waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import {
  type Any,
  bundledController,
  ControllerProcess,
  makeCluster,
  makeMachine,
  objects,
  testBootstrap,
} from "./harness.js";

/** In every hostile machine's bootstrap data: must never reach a log, an Event or a status. */
const CANARY = "HostileSuiteJoinToken-93e1c07b5d";
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";

describe("adversarial host", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("advh");
  let ctl: ControllerProcess;
  let good: TestHost;
  let target: TestHost;
  let key: KeyPair;
  let o: ReturnType<typeof objects>;
  const servers: HostileServer[] = [];

  before(async () => {
    o = objects(t.bed, t.ns);
    key = await makeKeyPair("ed25519");
    [good, target] = await Promise.all([
      createHost("advh-good", [key.publicKey]),
      createHost("advh-target", [key.publicKey]),
    ]);
    await o.apply([sshKeySecret(t.ns, "key", key)]);
    await makeCluster(t.bed, t.ns, "c1");
    ctl = new ControllerProcess(t.bed, t.ns, "advh");
    // The bundle the image runs, not the TypeScript source under tsx: the memory figures below
    // are the controller's as users run it (tsx transpiles in the process and in each planner
    // worker, about 70 MiB more).
    ctl.entry = await bundledController("advh-");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    for (const s of servers) await s.close();
    await Promise.all([good, target].filter(Boolean).map((h) => destroyHost(h)));
  });

  const hostile = async (mode: Parameters<typeof startHostile>[0]) => {
    const s = await startHostile(mode);
    servers.push(s);
    return s;
  };
  /** Peak resident memory of the controller process so far (VmHWM), in MiB. */
  const controllerPeakMiB = () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${ctl.child?.pid}/status`, "utf8"));
    return Number(m?.[1] ?? 0) / 1024;
  };
  const controllerRssMiB = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${ctl.child?.pid}/status`, "utf8"));
    return Number(m?.[1] ?? 0) / 1024;
  };
  /** Waits until some condition of the RemoteMachine has the reason; returns it. */
  const waitReason = (name: string, reason: string, timeoutMs = 60_000) =>
    waitFor(
      `${name}: a condition with reason ${reason}`,
      async () => {
        const rm = await o.rm(name);
        const c = (rm.status?.conditions ?? []).find((x: Any) => x.reason === reason);
        if (c) return c as Any;
        throw new Error(`conditions now ${JSON.stringify(rm.status?.conditions?.map((x: Any) => [x.type, x.reason]))}`);
      },
      { timeoutMs, intervalMs: 100 },
    );
  const waitEvent = (name: string, reason: string) =>
    waitFor(`${name}: Event ${reason}`, async () => (await o.events(name)).some((e) => e.reason === reason), {
      timeoutMs: 15_000,
    });
  const stateDirOn = async (h: TestHost, name: string) =>
    (await hostExec(h, `test -e /var/lib/capi-remote/${t.ns}.${name} && echo yes || echo no`)).trim();
  const data = () => testBootstrap(t.bed, { extra: `  - echo ${CANARY} > /root/canary\n` });

  it("a legitimate machine provisions while the hostile ones are tried", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "legit",
      "c1",
      { address: good.address, sshKeyRef: { name: "key" }, hostKeys: [good.knownHostsLine] },
      testBootstrap(t.bed),
    );
    await o.waitProvisioned("legit", 120_000);
  });

  it("a host streaming 1 GiB without a newline: HostOutputTooLarge, the controller's memory bounded (H3)", async () => {
    const s = await hostile({ kind: "flood", bytes: 1024 ** 3 });
    const rss0 = controllerRssMiB();
    const t0 = Date.now();
    await makeMachine(
      t.bed,
      t.ns,
      "flood",
      "c1",
      { address: s.host, port: s.port, sshKeyRef: { name: "key" }, hostKeys: [s.hostPublicKey] },
      data(),
    );
    const c = await waitReason("flood", "HostOutputTooLarge");
    await waitEvent("flood", "HostOutputTooLarge");
    console.log(
      `H3 e2e figure: HostOutputTooLarge after ${Date.now() - t0} ms; the host got to send ${(s.sent / 1048576).toFixed(0)} MiB of its 1 GiB; controller RSS ${rss0.toFixed(0)} MiB before, peak (VmHWM) ${controllerPeakMiB().toFixed(0)} MiB`,
    );
    assert.match(c.message, /more than 1048576 bytes/);
    assert.ok(controllerPeakMiB() < 300);
    // Terminal: not retried into the flood again.
    const conns = s.connections;
    await new Promise((r) => setTimeout(r, 8000));
    assert.ok(s.connections <= conns + 1, `reconnected ${s.connections - conns} times after the refusal`);
    // Nothing of the data was sent: only the probe ran.
    assert.equal(s.stdinBytes, 0);
  });

  for (const [what, bastionKeys] of [
    ["an unpinned bastion", undefined],
    [
      "a bastion pinned for another address",
      ["bastion.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
    ],
  ] as const) {
    it(`${what}: HostKeyNotPinned, the bastion never dialled, nothing on the target (H7)`, async () => {
      const b = await hostile({ kind: "record" });
      const name = bastionKeys ? "bastion-other" : "bastion-none";
      await makeMachine(
        t.bed,
        t.ns,
        name,
        "c1",
        {
          address: target.address,
          sshKeyRef: { name: "key" },
          hostKeys: [target.knownHostsLine],
          bastion: {
            address: b.host,
            port: b.port,
            sshKeyRef: { name: "key" },
            ...(bastionKeys ? { hostKeys: bastionKeys } : {}),
          },
        },
        data(),
      );
      const c = await waitReason(name, "HostKeyNotPinned");
      await waitEvent(name, "HostKeyNotPinned");
      assert.match(
        c.message,
        bastionKeys
          ? /spec\.bastion\.hostKeys pins no key for the bastion's address 127\.0\.0\.1/
          : /has no pinned host key/,
      );
      assert.equal(b.connections, 0, "the bastion was dialled");
      assert.equal(await stateDirOn(target, name), "no");
    });
  }

  it("a 100 KiB gzip bomb in write_files: InvalidBootstrapData within 5 s, nothing run (H2)", async () => {
    const gz = gzipSync(Buffer.alloc(100 * 1048576)).toString("base64");
    // The bomb goes first in the test data's own write_files list.
    const text = data().replace(
      "write_files:\n",
      `write_files:\n  - {path: /root/bomb, encoding: gz+b64, content: ${gz}}\n`,
    );
    assert.ok(gz.length > 100 * 1024);
    const hwm0 = controllerPeakMiB();
    const t0 = Date.now();
    await makeMachine(
      t.bed,
      t.ns,
      "bomb",
      "c1",
      { address: target.address, sshKeyRef: { name: "key" }, hostKeys: [target.knownHostsLine] },
      text,
    );
    const c = await waitReason("bomb", "InvalidBootstrapData");
    const ms = Date.now() - t0;
    await waitEvent("bomb", "InvalidBootstrapData");
    console.log(
      `H2 e2e figure: ${(text.length / 1024).toFixed(0)} KiB of data (100 MiB expanded): InvalidBootstrapData ${ms} ms after the objects were created; controller peak RSS ${hwm0.toFixed(0)} -> ${controllerPeakMiB().toFixed(0)} MiB`,
    );
    assert.match(c.message, /write_files\[0\]\.content decodes to more than 16 MiB, the limit per file/);
    assert.ok(ms < 5000, `${ms} ms`);
    assert.ok(controllerPeakMiB() - hwm0 < 100);
    assert.equal(await stateDirOn(target, "bomb"), "no");
  });

  it("20,000 write_files in 1 MiB: InvalidBootstrapData naming the limit within 5 s, the event loop free (L9)", async () => {
    const lines = ["#cloud-config", "write_files:"];
    for (let i = 0; i < 20_000; i++) lines.push(`- {path: /f${i}, content: ${CANARY.slice(0, 10)}}`);
    const text = lines.join("\n");
    assert.ok(text.length <= 1024 * 1024);
    const hwm0 = controllerPeakMiB();
    // The controller's event-loop delay histogram restarts at each scrape (prom-client): this
    // read starts the window the next one reports.
    const lagMetric = "capi_remote_nodejs_eventloop_lag_max_seconds";
    await ctl.metric(lagMetric);
    const t0 = Date.now();
    await makeMachine(
      t.bed,
      t.ns,
      "many",
      "c1",
      { address: target.address, sshKeyRef: { name: "key" }, hostKeys: [target.knownHostsLine] },
      text,
    );
    const c = await waitReason("many", "InvalidBootstrapData", 20_000);
    const ms = Date.now() - t0;
    const lagMs = (await ctl.metric(lagMetric)) * 1000;
    console.log(
      `L9 e2e figure: ${(text.length / 1024).toFixed(0)} KiB, 20,000 write_files: InvalidBootstrapData ${ms} ms after the objects were created (planned in a worker thread); the controller's worst event-loop delay meanwhile ${lagMs.toFixed(0)} ms; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores; controller peak RSS ${hwm0.toFixed(0)} -> ${controllerPeakMiB().toFixed(0)} MiB`,
    );
    // Refused while lexing, before a document is built (controller/src/cloudinit/limits.ts).
    assert.match(c.message, /the cloud-config has more than 200000 YAML tokens; at most 200000 are allowed/);
    assert.ok(ms < 5000, `${ms} ms`);
    assert.ok(controllerPeakMiB() - hwm0 < 100, "more than 100 MiB extra");
    assert.equal(await stateDirOn(target, "many"), "no");
  });

  describe("a pool machine between holders (L4, M14)", () => {
    /** The holder's token: in its files, its commands and what they print. */
    const TOKEN = "PoolHolderJoinToken-4d2b8e17a9c3";
    /** Tags the holder's daemons' sleeps (test/bed/util.ts sleepsOf). */
    const tag = `5${process.pid}${Date.now() % 100000}`;
    const files = ["/run/kubeadm/kubeadm-join-config.yaml", "/root/holder-file", "/etc/holder.d/token"];
    let pool: TestHost;

    before(async () => {
      pool = await createHost("advh-pool", [key.publicKey]);
      await o.apply([
        {
          apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
          kind: "PooledRemoteMachine",
          metadata: { name: "scrub-pm" },
          spec: {
            pool: "scrub",
            machine: { address: pool.address, sshKeyRef: { name: "key" }, hostKeys: [pool.knownHostsLine] },
          },
        },
      ]);
    });
    after(async () => {
      for (const p of sleepsOf(tag)) process.kill(Number(p), "SIGKILL");
      if (pool) await destroyHost(pool);
    });

    /**
     * Every file on the machine's writable disk that holds `needle`, as the machine's paths: its
     * tmpfs /run and /tmp and the upper layers of its overlays (/etc, /home, /root, /var, /opt,
     * /usr/local, /srv: test/bed/hosts.ts), and the bytes searched in each.
     */
    const searchDisk = async (needle: string) => {
      const search = (paths: string) => `du -sb ${paths}; echo --; grep -rlF '${needle}' ${paths} 2>/dev/null; true`;
      // An upper layer's path as the machine sees it: <dir>/_usr_local/up/x is /usr/local/x.
      const asMachine = (p: string) =>
        p.replace(/^.*\/_([^/]+)\/up(?=\/|$)/, (_, t: string) => `/${t.replaceAll("_", "/")}`);
      const [sizes = "", found = ""] = [
        await hostExec(pool, search("/run /tmp")),
        execFileSync("sh", ["-c", search(`${pool.dir}/_*/up`)]).toString(),
      ]
        .map((out) => out.split("--\n"))
        .reduce((a, b) => [`${a[0]}${b[0]}`, `${a[1]}${b[1]}`]);
      const areas = sizes
        .split("\n")
        .filter(Boolean)
        .map((l) => ({ bytes: Number(l.split(/\s+/)[0]), path: asMachine(l.split(/\s+/)[1] ?? "") }));
      return {
        hits: found.split("\n").filter(Boolean).map(asMachine),
        searched: areas.map((a) => `${a.path} ${a.bytes} B`).join(", "),
        bytes: areas.reduce((n, a) => n + a.bytes, 0),
      };
    };
    const daemons = () => (sleepsOf(tag).length > 0 ? `${sleepsOf(tag).length} tagged sleeps` : "none");

    it("L4: once the holder's Machine is Running, its token is on the disk only where its data wrote it", async () => {
      // A daemon started the way bootstraps start them badly: a new session (setsid), its parent
      // gone at once (a double fork: init adopts it), TERM ignored, forking a child every second.
      const daemon = `( setsid sh -c "trap '' TERM; i=0; while [ \\$i -lt 900 ]; do sleep ${tag} & sleep 1; i=\\$((i + 1)); done" >/dev/null 2>&1 & )`;
      const extra = [
        daemon,
        daemon,
        `echo ${TOKEN}; echo ${TOKEN} >&2`,
        `printf '%s' ${TOKEN} | sha256sum > /root/token.sum`,
      ]
        .map((c) => `  - ${JSON.stringify(c)}\n`)
        .join("");
      const written = files.map((f) => `  - {path: ${f}, content: "token ${TOKEN}"}\n`).join("");
      const text = testBootstrap(t.bed, { extra }).replace("write_files:\n", `write_files:\n${written}`);
      const t0 = Date.now();
      await makeMachine(t.bed, t.ns, "holder", "c1", { pool: "scrub" }, text);
      await waitFor("holder's Machine Running", async () => (await o.machine("holder")).status?.phase === "Running", {
        timeoutMs: 180_000,
        intervalMs: 500,
      });
      const found = await searchDisk(TOKEN);
      const outside = found.hits.filter((f) => !files.includes(f));
      console.log(
        `L4 figure: Running ${Date.now() - t0} ms after the objects were created; searched ${found.searched} (${(found.bytes / 1048576).toFixed(1)} MiB in all) for the holder's token: in ${found.hits.length} files (${found.hits.join(" ")}), outside the paths its data wrote: ${outside.join(" ") || "none"}; its daemons: ${daemons()}`,
      );
      assert.deepEqual(found.hits.sort(), [...files].sort(), "the search finds the files the data wrote");
      assert.deepEqual(outside, []);
      assert.ok(sleepsOf(tag).length >= 2, "the holder's daemons run");
    });

    it("M14: the release stops the holder's daemons, removes its files and state; the next holder gets a clean machine", async () => {
      const t1 = Date.now();
      await o.deleteMachine("holder");
      // What the deletion went through, as the RemoteMachine's CleanupSucceeded condition said it.
      const timeline: string[] = [];
      await waitFor(
        "holder gone and the pool machine returned",
        async () => {
          const pm = await o.getInfra("pooledremotemachines", "scrub-pm");
          const rm = await o.rmOrUndefined("holder");
          const c = rm ? o.condition(rm, "CleanupSucceeded") : undefined;
          const now = c ? `${c.reason}${c.message ? ` (${c.message})` : ""}` : rm ? "no cleanup yet" : "gone";
          if (!timeline.at(-1)?.endsWith(`: ${now}`)) timeline.push(`${Date.now() - t1} ms: ${now}`);
          return !rm && !pm.metadata.annotations?.[CLAIMED_BY];
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      const releasedMs = Date.now() - t1;
      console.log(`M14 deletion timeline: ${timeline.join("; ")}`);
      const after1 = await searchDisk(TOKEN);
      const daemonsAfter = daemons();
      const stateAfter = await stateDirOn(pool, "holder");
      console.log(
        `M14 figure: released ${releasedMs} ms after its Machine's deletion (the daemons ignore TERM: KILL after the 10 s grace); after the release, searched ${after1.searched}: files holding the holder's token: ${after1.hits.join(" ") || "none"}; its daemons: ${daemonsAfter}; capi-remote's state directory: ${stateAfter}`,
      );
      assert.deepEqual(after1.hits, []);
      assert.deepEqual(sleepsOf(tag), [], "a daemon of the holder outlived the release");
      assert.equal(stateAfter, "no");
      // The next holder: its own bootstrap runs on the machine the first one left.
      const next = testBootstrap(t.bed, { extra: `  - ${JSON.stringify("echo next > /root/next-holder")}\n` });
      await makeMachine(t.bed, t.ns, "holder2", "c1", { pool: "scrub" }, next);
      await o.waitProvisioned("holder2", 120_000);
      const seen = await searchDisk(TOKEN);
      console.log(
        `M14 figure: the next holder provisioned; the machine it got holds the first holder's token in ${seen.hits.length} files; the first holder's daemons: ${daemons()}`,
      );
      assert.equal((await hostExec(pool, "cat /root/next-holder")).trim(), "next");
      assert.deepEqual(seen.hits, []);
      assert.deepEqual(sleepsOf(tag), []);
      await o.deleteMachine("holder2");
      await waitFor("holder2 released", async () => !(await o.rmOrUndefined("holder2")), { timeoutMs: 120_000 });
    });
  });

  it("nothing of the data leaked: logs, Events, status; the legitimate machine still provisioned", async () => {
    const log = await ctl.log();
    assert.ok(!log.includes(CANARY), "the canary is in the controller's log");
    const events = JSON.stringify(await o.allEvents());
    assert.ok(!events.includes(CANARY), "the canary is in an Event");
    for (const n of ["flood", "bastion-none", "bastion-other", "bomb", "many"]) {
      assert.ok(!JSON.stringify((await o.rm(n)).status ?? {}).includes(CANARY), `the canary is in ${n}'s status`);
    }
    assert.equal((await o.rm("legit")).status?.initialization?.provisioned, true);
    assert.equal((await hostExec(target, "ls /root")).includes("canary"), false);
  });
});
