import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SecretWordIndex } from "../cloudinit/redact.js";
import { ApiError } from "../kube/api.js";
import type { Secret } from "../kube/objects.js";
import { keyOf } from "../runtime/informer.js";
import {
  DATALESS_SECRET_TYPES,
  projectSecret,
  projectSecretMeta,
  type SecretMeta,
  type SecretMetaSource,
  SecretReader,
  unreadNote,
} from "./secrets.js";
import { type ConnectionSpec, connectionSecretNames, readSshTarget, sshTargetFor } from "./sshtarget.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret = (name: string, type: string | undefined, data: Record<string, string>, rv = "1"): Secret => ({
  metadata: { name, namespace: "t", resourceVersion: rv, uid: `u-${name}` },
  ...(type ? { type } : {}),
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

/** An API server's Secrets and the metadata watch over them, events delivered when told. */
function world() {
  const objects = new Map<string, Secret>();
  const meta = new Map<string, SecretMeta>();
  const handlers: Parameters<SecretMetaSource["on"]>[0][] = [];
  const source: SecretMetaSource = {
    get: (ns, name) => meta.get(`${ns}/${name}`),
    on: (h) => handlers.push(h),
  };
  let rv = 1;
  const gets: string[] = [];
  /** GETs wait for `release()` when `hold` is set. */
  let hold: Promise<void> | undefined;
  let release = () => {};
  const w = {
    objects,
    gets,
    source,
    fetch: async (ns: string, name: string) => {
      gets.push(name);
      const at = objects.get(`${ns}/${name}`);
      const copy = at ? structuredClone(at) : undefined;
      if (hold) await hold;
      return copy;
    },
    /** Writes a Secret; the watch shows it at once. */
    put(name: string, data: Record<string, string>, type?: string) {
      const s = secret(name, type, data, String(++rv));
      const key = keyOf(s);
      objects.set(key, s);
      const old = meta.get(key);
      const m = projectSecretMeta(s);
      meta.set(key, m);
      for (const h of handlers) old ? h.onUpdate?.(m, old) : h.onAdd?.(m);
      return s;
    },
    remove(name: string) {
      const key = `t/${name}`;
      const old = meta.get(key);
      objects.delete(key);
      meta.delete(key);
      if (old) for (const h of handlers) h.onDelete?.(old);
    },
    holdGets() {
      hold = new Promise((r) => {
        release = () => {
          hold = undefined;
          r();
        };
      });
    },
    releaseGets: () => release(),
  };
  return w;
}

const tick = () => new Promise((r) => setImmediate(r));

function reader(w: ReturnType<typeof world>, opts: ConstructorParameters<typeof SecretReader>[3] = {}) {
  const words = new SecretWordIndex();
  const r = new SecretReader(w.source, w.fetch, words, opts);
  return { r, words };
}

describe("the Secret reader", () => {
  it("reads no Secret nobody asks for, however many the namespace holds", async () => {
    const w = world();
    const { r } = reader(w);
    const release = "x".repeat(256 * 1024);
    for (let i = 0; i < 1000; i++) w.put(`noise-${i}`, { release });
    w.put("ssh-key", { value: "KEY-1" });
    assert.equal((await r.get("t", "ssh-key"))?.data?.value, b64("KEY-1"));
    assert.deepEqual(w.gets, ["ssh-key"]);
    assert.deepEqual(r.held(), { copies: 1, bytes: b64("KEY-1").length });
    console.log(`# 1,000 Secrets of 256 KiB beside the one read: ${r.held().bytes} bytes of data held`);
    r.stop();
  });

  it("GETs a Secret once per resourceVersion; a change or a deletion drops the copy", async () => {
    const w = world();
    const { r } = reader(w);
    w.put("ssh-key", { value: "KEY-1" });
    await r.get("t", "ssh-key");
    await r.get("t", "ssh-key");
    assert.equal(w.gets.length, 1, "the second read came from the copy");
    w.put("ssh-key", { value: "KEY-2" });
    assert.equal((await r.get("t", "ssh-key"))?.data?.value, b64("KEY-2"));
    assert.equal(w.gets.length, 2);
    w.remove("ssh-key");
    assert.equal(await r.get("t", "ssh-key"), undefined);
    assert.equal(w.gets.length, 2, "a Secret the watch does not show is not fetched");
    assert.deepEqual(r.held(), { copies: 0, bytes: 0 });
    r.stop();
  });

  it("a GET answered 404 (the watch has not seen the deletion yet) is no Secret; any other error fails the read", async () => {
    const meta = world();
    meta.put("gone", { value: "x" });
    let status = 404;
    const r = new SecretReader(
      meta.source,
      async () => {
        throw new ApiError(status, "answer");
      },
      new SecretWordIndex(),
    );
    assert.equal(await r.get("t", "gone"), undefined);
    status = 500;
    await assert.rejects(r.get("t", "gone"), /answer/);
    r.stop();
  });

  it("one GET for reads of one version at the same time", async () => {
    const w = world();
    const { r } = reader(w);
    w.put("data", { value: "BOOTSTRAP" });
    const got = await Promise.all(Array.from({ length: 20 }, () => r.get("t", "data")));
    assert.equal(w.gets.length, 1);
    assert.ok(got.every((s) => s?.data?.value === b64("BOOTSTRAP")));
    r.stop();
  });

  it("learns a Secret's words before the reader hands out its data, and forgets them when it is deleted", async () => {
    const w = world();
    const { r, words } = reader(w);
    w.put("data", { value: "token=abcdef0123456789SECRET" });
    assert.equal(words.redact("abcdef0123456789SECRET"), "abcdef0123456789SECRET", "not read yet: not known");
    await r.get("t", "data");
    assert.ok(!words.redact("x abcdef0123456789SECRET y").includes("abcdef0123456789SECRET"));
    w.remove("data");
    assert.equal(words.redact("abcdef0123456789SECRET"), "abcdef0123456789SECRET");
    r.stop();
  });

  it("a read of an older version still out finishes first: the newest words and copy win", async () => {
    const w = world();
    const { r, words } = reader(w);
    w.put("data", { value: "OLDTOKEN-aaaaaaaaaaaaaaaa" });
    w.holdGets();
    const first = r.get("t", "data");
    await tick(); // the GET is out, with the old version
    w.put("data", { value: "NEWTOKEN-bbbbbbbbbbbbbbbb" });
    const second = r.get("t", "data");
    w.releaseGets();
    assert.equal((await first)?.data?.value, b64("OLDTOKEN-aaaaaaaaaaaaaaaa"));
    assert.equal((await second)?.data?.value, b64("NEWTOKEN-bbbbbbbbbbbbbbbb"));
    assert.ok(!words.redact("NEWTOKEN-bbbbbbbbbbbbbbbb").includes("bbbbbbbbbbbbbbbb"), "the newest words are known");
    assert.equal((await r.get("t", "data"))?.data?.value, b64("NEWTOKEN-bbbbbbbbbbbbbbbb"));
    assert.equal(w.gets.length, 2, "the newest copy is the one kept");
    r.stop();
  });

  it("a Secret deleted while its GET was out is handed to the caller but not kept; the sweep forgets its words", async () => {
    const w = world();
    const { r, words } = reader(w);
    w.put("data", { value: "GONETOKEN-cccccccccccccccc" });
    w.holdGets();
    const read = r.get("t", "data");
    await tick();
    w.remove("data");
    w.releaseGets();
    assert.equal((await read)?.data?.value, b64("GONETOKEN-cccccccccccccccc"));
    assert.deepEqual(r.held(), { copies: 0, bytes: 0 });
    assert.ok(
      !words.redact("GONETOKEN-cccccccccccccccc").includes("cccccccccccccccc"),
      "known while the caller may write",
    );
    r.sweep();
    assert.equal(words.redact("GONETOKEN-cccccccccccccccc"), "GONETOKEN-cccccccccccccccc");
    r.stop();
  });

  it("drops copies not read for idleMs, keeping the words of Secrets that still exist", async () => {
    const w = world();
    let now = 0;
    const { r, words } = reader(w, { idleMs: 1000, now: () => now });
    w.put("a", { value: "ATOKEN-dddddddddddddddd" });
    w.put("b", { value: "BTOKEN-eeeeeeeeeeeeeeee" });
    await r.get("t", "a");
    await r.get("t", "b");
    now = 800;
    await r.get("t", "b");
    now = 1500;
    r.sweep();
    assert.equal(r.held().copies, 1, "a was idle; b was read 700 ms ago");
    assert.ok(!words.redact("ATOKEN-dddddddddddddddd").includes("dddddddddddddddd"));
    await r.get("t", "a");
    assert.equal(w.gets.filter((g) => g === "a").length, 2, "an idle copy is read again");
    r.stop();
  });

  it("holds at most maxBytes of data: the least recently read copy goes first", async () => {
    const w = world();
    const { r } = reader(w, { maxBytes: 3000 });
    for (const n of ["a", "b", "c"]) w.put(n, { value: n.repeat(1000) });
    await r.get("t", "a");
    await r.get("t", "b");
    await r.get("t", "a");
    await r.get("t", "c");
    const held = r.held();
    assert.ok(held.bytes <= 3000, `${held.bytes} bytes held`);
    assert.equal(held.copies, 2);
    w.gets.length = 0;
    await r.get("t", "a");
    await r.get("t", "b");
    assert.deepEqual(w.gets, ["b"], "b, read least recently, was dropped");
    r.stop();
  });

  it("keeps no data of Helm releases, service account tokens, pull secrets and bootstrap tokens", async () => {
    const w = world();
    const { r } = reader(w);
    const release = "x".repeat(256 * 1024);
    for (const type of DATALESS_SECRET_TYPES) {
      w.put(type.replace(/[^a-z]/g, "-"), { release }, type);
      const got = await r.get("t", type.replace(/[^a-z]/g, "-"));
      assert.equal(got?.data, undefined, type);
      assert.equal(got?.type, type);
    }
    assert.equal(r.held().bytes, 0);
    for (const type of [undefined, "Opaque", "cluster.x-k8s.io/secret", "kubernetes.io/ssh-auth", "kubernetes.io/tls"])
      assert.equal(projectSecret(secret("s", type, { value: "key" })).data?.value, b64("key"), String(type));
    r.stop();
  });

  it("an SSH key in a Secret of such a type is refused with a message that says why", async () => {
    const w = world();
    const { r } = reader(w);
    w.put("ssh-key", { value: "k" }, "kubernetes.io/service-account-token");
    const t = await readSshTarget(r, "t", { address: "192.0.2.1", sshKeyRef: { name: "ssh-key" } }, undefined);
    assert.ok("reason" in t);
    assert.match(
      t.message,
      /has no key `value` \(capi-remote keeps no data of Secrets of type kubernetes\.io\/service-account-token; use type Opaque\)/,
    );
    assert.equal(unreadNote(secret("o", "Opaque", {})), "");
    r.stop();
  });

  it("the watch keeps a name and a version of each Secret, nothing a tenant can grow", () => {
    const big = {
      metadata: { name: "s", namespace: "t", resourceVersion: "7", uid: "u", labels: { a: "x".repeat(60_000) } },
    };
    assert.deepEqual(projectSecretMeta(big), {
      metadata: { name: "s", namespace: "t", resourceVersion: "7", uid: "u" },
    });
    // A server that ignores the metadata-only Accept header sends whole Secrets: the same is kept.
    const whole = { ...secret("s", "Opaque", { value: "PRIVATE-KEY" }, "7"), metadata: { ...big.metadata } };
    assert.deepEqual(projectSecretMeta(whole), projectSecretMeta(big));
  });
});

/** The garbage collector, to measure what is kept (the test runner does not expose it). */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** `n` distinct words of 12 or more characters. */
const distinctWords = (n: number, tag = "w") =>
  Array.from({ length: n }, (_, i) => `${tag}${String(i).padStart(11, "0")}`).join(" ");

describe("the Secret reader's word budget", () => {
  // Words of 12 characters weigh 132 bytes each (wordbudget.ts).
  const W = 132;
  const limits = { perSecret: 100 * W, total: 300 * W, namespaceShare: 0.5 };

  it("a Secret whose words weigh more than one Secret may is handed out without its data, unlearned, and says why", async () => {
    const w = world();
    const { r, words } = reader(w, { wordLimits: limits });
    w.put("data", { value: distinctWords(101) });
    const got = await r.get("t", "data");
    assert.equal(got?.data, undefined);
    assert.match(
      unreadNote(got),
      /did not read it: its words .* would take 0\.0 MiB, over the 0\.0 MiB it keeps of one Secret/,
    );
    assert.equal(words.redact("w00000000007"), "w00000000007", "nothing of it was learned");
    await r.get("t", "data");
    assert.equal(w.gets.length, 1, "refused once per version");
    w.put("data", { value: distinctWords(100) });
    assert.ok((await r.get("t", "data"))?.data?.value, "an edit that brings it under the limit is read");
    assert.equal(words.redact("w00000000007"), "[redacted]");
    r.stop();
  });

  it("a namespace may hold only its share: the next Secret waits, and its machines are woken when words go", async () => {
    const w = world();
    let weight = 0;
    const { r } = reader(w, { wordLimits: limits, onWords: (n) => (weight = n) });
    const woken: string[] = [];
    r.on({ onUpdate: (m) => woken.push(m.metadata.name) });
    w.put("a", { value: distinctWords(100, "a") });
    w.put("b", { value: distinctWords(50, "b") });
    w.put("c", { value: distinctWords(10, "c") });
    await r.get("t", "a");
    await r.get("t", "b");
    assert.equal(weight, 150 * W, "the namespace's share (150 words) is full");
    woken.length = 0;
    const c = await r.get("t", "c");
    assert.equal(c?.data, undefined);
    assert.match(unreadNote(c), /namespace t take .* would pass the namespace's share/);
    assert.deepEqual(woken, []);
    w.remove("b");
    assert.equal(weight, 100 * W);
    assert.deepEqual(woken, ["c"], "the waiting Secret's machines are woken");
    assert.ok((await r.get("t", "c"))?.data?.value, "and it is read");
    r.stop();
  });

  it("the default per-Secret limit, and what the words of a Secret near it cost", async () => {
    const w = world();
    const { r } = reader(w);
    // Under 16 MiB of weight: 31,000 words of 12 characters weigh 3.9 MiB.
    w.put("big", { value: distinctWords(31_000) });
    const gc = collector();
    gc();
    const before = process.memoryUsage().heapUsed;
    assert.ok((await r.get("t", "big"))?.data, "31,000 distinct words are read");
    gc();
    const cost = process.memoryUsage().heapUsed - before;
    console.log(
      `# one Secret with 31,000 distinct words (${((31_000 * W) / 2 ** 20).toFixed(1)} MiB by weight): ${(cost / 2 ** 20).toFixed(1)} MiB of heap, its copy included`,
    );
    // 16 MiB by weight is about 127,100 words of 12 characters: 127,200 are over it.
    w.put("bigger", { value: distinctWords(127_200) });
    assert.equal((await r.get("t", "bigger"))?.data, undefined, "127,200 are not");
    // Long words weigh their length: 4,000 words of 5,000 characters (20 MB) are over it too.
    w.put("long", { value: Array.from({ length: 4000 }, (_, i) => `${i}`.padStart(5000, "x")).join(" ") });
    assert.equal((await r.get("t", "long"))?.data, undefined);
    r.stop();
  });
});

describe("the Secrets a connection reads", () => {
  it("connectionSecretNames lists every Secret sshTargetFor reads, so that each is read first and wakes the machine", () => {
    const spec: ConnectionSpec = {
      address: "192.0.2.1",
      sshKeyRef: { name: "key" },
      hostKeysSecretRef: { name: "known" },
      bastion: { address: "192.0.2.2", sshKeyRef: { name: "bastion-key" }, hostKeys: ["192.0.2.2 ssh-ed25519 AAAA"] },
    };
    const asked = new Set<string>();
    sshTargetFor(
      (n) => {
        if (n) asked.add(n);
        return n ? secret(n, undefined, { value: "k", known_hosts: "" }) : undefined;
      },
      spec,
      undefined,
    );
    assert.deepEqual([...asked].sort(), ["bastion-key", "key", "known"]);
    assert.deepEqual(connectionSecretNames(spec).sort(), [...asked].sort());
  });
});
