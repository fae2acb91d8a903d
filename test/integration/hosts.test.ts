/**
 * The SSH test hosts: real sshd, each with its own address, /run and /etc; the generated keys
 * work with ssh2 (the client the controller uses); the host-side helpers do what they say.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client } from "ssh2";
import { InputFeed, Ssh2Dialer } from "../../controller/src/ssh/executor.js";
import { type KeyPair, makeKeyPair } from "../bed/fixtures.js";
import {
  countLines,
  createHost,
  destroyHost,
  readHostFile,
  regenerateHostKeys,
  setLink,
  startSshd,
  stopSshd,
  type TestHost,
} from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  hostKey: string;
}

/** Connects with ssh2, checking the host key against `expectKey`, runs one command. */
function sshRun(
  host: TestHost,
  user: string,
  key: KeyPair,
  command: string,
  opts: { expectKey?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let hostKey = "";
    c.on("ready", () => {
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = "";
        let stderr = "";
        stream.on("data", (d: Buffer) => {
          stdout += d.toString();
        });
        stream.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
        });
        stream.on("close", (code: number | null) => {
          c.end();
          resolve({ code, stdout, stderr, hostKey });
        });
      });
    });
    c.on("error", reject);
    c.connect({
      host: host.address,
      port: host.port,
      username: user,
      privateKey: key.privateKey,
      ...(key.passphrase ? { passphrase: key.passphrase } : {}),
      readyTimeout: opts.timeoutMs ?? 10_000,
      hostVerifier: (raw: Buffer) => {
        hostKey = raw.toString("base64");
        return opts.expectKey === undefined || hostKey === opts.expectKey;
      },
    });
  });
}

const keyBlob = (h: TestHost) => h.hostPublicKey.split(" ")[1] ?? "";

describe("SSH test hosts", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const keys: Record<string, KeyPair> = {};
  let a: TestHost;
  let b: TestHost;

  before(async () => {
    for (const kind of ["ed25519", "rsa-pem", "ecdsa", "ed25519-encrypted"] as const)
      keys[kind] = await makeKeyPair(kind);
    const pubs = Object.values(keys).map((k) => k.publicKey);
    [a, b] = await Promise.all([createHost("hosts-a", pubs), createHost("hosts-b", pubs)]);
  });
  after(async () => {
    await Promise.all([a && destroyHost(a), b && destroyHost(b)]);
  });

  it("have their own addresses", () => {
    assert.notEqual(a.address, b.address);
    assert.match(a.address, /^198\.18\.\d+\.\d+$/);
  });

  for (const kind of ["ed25519", "rsa-pem", "ecdsa", "ed25519-encrypted"] as const) {
    it(`accept the generated ${kind} key as root, with the host key verified`, async () => {
      const r = await sshRun(a, "root", keys[kind]!, "id -un; hostname", { expectKey: keyBlob(a) });
      assert.equal(r.code, 0);
      assert.equal(r.stdout, "root\nhosts-a\n");
    });
  }

  it("refuse a connection whose host key does not match", async () => {
    await assert.rejects(sshRun(a, "root", keys.ed25519!, "true", { expectKey: keyBlob(b) }), /verification failed/i);
  });

  it("refuse a key they do not know", async () => {
    const stranger = await makeKeyPair("ed25519", "stranger");
    await assert.rejects(sshRun(a, "root", stranger, "true"), /authentication/i);
  });

  it("have a passwordless-sudo user, a user without sudo and one whose sudo wants a password", async () => {
    const capi = await sshRun(a, "capi", keys.ed25519!, "sudo -n id -un");
    assert.deepEqual([capi.code, capi.stdout], [0, "root\n"]);
    const nosudo = await sshRun(a, "nosudo", keys.ed25519!, "sudo -n id -un");
    assert.notEqual(nosudo.code, 0);
    const pw = await sshRun(a, "pwsudo", keys.ed25519!, "sudo -n true");
    assert.notEqual(pw.code, 0);
    assert.match(pw.stderr, /password is required/);
  });

  it("keep /run, /etc and /tmp to themselves", async () => {
    const write =
      "mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete && echo a > /etc/only-a && echo a > /tmp/only-a";
    assert.equal((await sshRun(a, "root", keys.ed25519!, write)).code, 0);
    assert.equal(await readHostFile(a, "/etc/only-a"), "a\n");
    assert.equal(await readHostFile(b, "/etc/only-a"), undefined);
    assert.equal(await readHostFile(b, "/run/cluster-api/bootstrap-success.complete"), undefined);
    assert.equal(await readHostFile(b, "/tmp/only-a"), undefined);
    const onB = await sshRun(b, "root", keys.ed25519!, "ls /run/cluster-api /etc/only-a 2>&1; true");
    assert.match(onB.stdout, /No such file/);
    // And nothing leaked onto this machine.
    const { existsSync } = await import("node:fs");
    assert.equal(existsSync("/etc/only-a"), false);
  });

  it("count how often a command ran", async () => {
    for (let i = 0; i < 3; i++) await sshRun(a, "root", keys.ed25519!, "echo ran-bootstrap >> /var/log/runs.log");
    await sshRun(a, "root", keys.ed25519!, "echo something-else >> /var/log/runs.log");
    assert.equal(await countLines(a, "/var/log/runs.log", "ran-bootstrap"), 3);
    assert.equal(await countLines(a, "/var/log/missing.log", "x"), 0);
  });

  it("take a command's stdin in two parts: the rest only when the caller says so (the executor's stdinLast)", async () => {
    const conn = await new Ssh2Dialer().dial({
      host: a.address,
      port: 22,
      user: "root",
      privateKey: keys.ed25519!.privateKey,
      hostKeys: { mode: "pinned", keys: [a.hostPublicKey] },
      // Not what this test is about: room for a handshake on a machine loaded by other beds.
      connectTimeoutMs: 60_000,
    });
    try {
      const cmd = "cat > /tmp/two-part; wc -c < /tmp/two-part";
      const t0 = Date.now();
      const held = await conn.exec(cmd, {
        stdin: "abc",
        stdinLast: new Promise((r) => setTimeout(() => r("d"), 400)),
      });
      assert.equal(held.stdout.trim(), "4");
      assert.ok(Date.now() - t0 >= 400, "the command's input ended only after the caller's promise");
      // The caller gives up: the channel closes without the rest, and the command saw a short input.
      await assert.rejects(
        conn.exec(`${cmd} > /tmp/two-part-count`, {
          stdin: "abc",
          stdinLast: new Promise((_, reject) => setTimeout(() => reject(new Error("record not written")), 200)),
        }),
        /record not written/,
      );
      let seen: string | undefined;
      for (let i = 0; i < 40 && !seen; i++) {
        seen = (await readHostFile(a, "/tmp/two-part-count"))?.trim() || undefined;
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(seen, "3");
      // A command started before its input exists (a warm connection's standby start), fed later.
      const feed = new InputFeed();
      const standby = conn.exec('IFS= read -r n; cat > /tmp/fed; echo "$n $(wc -c < /tmp/fed)"', { input: feed });
      await new Promise((r) => setTimeout(r, 300));
      feed.push("5\nhel");
      feed.push("lo");
      feed.end();
      assert.equal((await standby).stdout.trim(), "5 5");
    } finally {
      conn.close();
    }
  });

  it("stop and start sshd", async () => {
    await stopSshd(a);
    await assert.rejects(sshRun(a, "root", keys.ed25519!, "true", { timeoutMs: 2000 }), /ECONNREFUSED/);
    await startSshd(a);
    assert.equal((await sshRun(a, "root", keys.ed25519!, "true")).code, 0);
  });

  it("cut and restore the link", async () => {
    await setLink(a, false);
    await assert.rejects(
      sshRun(a, "root", keys.ed25519!, "true", { timeoutMs: 1500 }),
      /Timed out|EHOSTUNREACH|ETIMEDOUT/,
    );
    await setLink(a, true);
    assert.equal((await sshRun(a, "root", keys.ed25519!, "true")).code, 0);
  });

  it("change their host key like a recreated VM", async () => {
    const before = keyBlob(a);
    await regenerateHostKeys(a);
    assert.notEqual(keyBlob(a), before);
    await assert.rejects(sshRun(a, "root", keys.ed25519!, "true", { expectKey: before }), /verification failed/i);
    assert.equal((await sshRun(a, "root", keys.ed25519!, "true", { expectKey: keyBlob(a) })).code, 0);
  });

  it("are gone, namespaces and all, when destroyed", async () => {
    const c = await createHost("hosts-c", [keys.ed25519!.publicKey]);
    await destroyHost(c);
    const { execFileAsync } = await import("../bed/util.js");
    const { stdout } = await execFileAsync("ip", ["netns", "list"]);
    assert.ok(!stdout.includes(`crh-${c.slot}`));
    await assert.rejects(sshRun(c, "root", keys.ed25519!, "true", { timeoutMs: 1500 }));
  });
});
