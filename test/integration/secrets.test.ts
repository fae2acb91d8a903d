/**
 * How the controller reads Secrets, against a real API server: the watch asks for metadata only
 * (PartialObjectMetadata), so no Secret's data crosses the wire or stays in memory unless a
 * machine names it; a named Secret is read with one GET per resourceVersion.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { SecretWordIndex } from "../../controller/src/cloudinit/redact.js";
import { silentLog } from "../../controller/src/controllers/testing.js";
import { KubeApi, R } from "../../controller/src/kube/api.js";
import type { Secret } from "../../controller/src/kube/objects.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import type { Logger } from "../../controller/src/runtime/log.js";
import { projectSecretMeta, type SecretMeta, SecretReader } from "../../controller/src/security/secrets.js";
import { ensureNamespace } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "./helpers.js";

const NOISE = 20;
const NOISE_BYTES = 192 * 1024;
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

describe("Secrets, against a real API server", () => {
  const t = useBed("secrets");

  it("a namespace without Secrets lists as empty (the server sends `items: null` for metadata-only lists)", async () => {
    const api = new KubeApi(t.bed.clients.kc);
    const empty = `${t.ns}-empty`;
    await ensureNamespace(t.bed.clients, empty);
    const inf = new Informer<SecretMeta>(api, R.secrets, silentLog as unknown as Logger, {
      namespace: empty,
      metadataOnly: true,
      project: projectSecretMeta,
    });
    try {
      inf.start();
      await Promise.race([
        inf.synced,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`not synced; ${inf.restarts} relists`)), 10_000)),
      ]);
      assert.equal(inf.size, 0);
      assert.equal(inf.restarts, 0);
    } finally {
      inf.stop();
    }
  });

  it("the watch carries metadata only; a named Secret is read with one GET per version, and no other is read", async () => {
    const api = new KubeApi(t.bed.clients.kc);
    const secret = (name: string, data: Record<string, string>, type = "Opaque") =>
      api.create<Secret>(R.secrets, t.ns, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, labels: { noise: "yes" }, annotations: { note: "x".repeat(8 * 1024) } },
        type,
        data,
      });
    for (let i = 0; i < NOISE; i++) await secret(`noise-${i}`, { blob: b64(randomBytes(NOISE_BYTES)) });
    await secret("release", { release: b64("helm release record") }, "helm.sh/release.v1");
    await secret("ssh-key", { value: b64("PRIVATE-KEY-one-0a1b2c3d4e5f") });

    const raw: Record<string, unknown>[] = [];
    const inf = new Informer<SecretMeta>(api, R.secrets, silentLog as unknown as Logger, {
      namespace: t.ns,
      metadataOnly: true,
      project: (o) => {
        raw.push(o as unknown as Record<string, unknown>);
        return projectSecretMeta(o);
      },
    });
    const gets: string[] = [];
    const fetch = (ns: string, name: string) => {
      gets.push(name);
      return api.get<Secret>(R.secrets, ns, name);
    };
    const words = new SecretWordIndex();
    const reader = new SecretReader(inf, fetch, words);
    try {
      inf.start();
      await inf.synced;
      assert.equal(inf.size, NOISE + 2);
      const listed = raw.length;
      const sent = raw.reduce((n, o) => n + JSON.stringify(o).length, 0);
      console.log(
        `# listed ${listed} Secrets holding ${((NOISE * NOISE_BYTES * 4) / 3 / 2 ** 20).toFixed(1)} MiB of data: ${(sent / 1024).toFixed(0)} KiB of metadata came, ${inf.list().reduce((n, o) => n + JSON.stringify(o).length, 0)} bytes kept`,
      );
      for (const o of raw) {
        assert.equal(o.kind, "PartialObjectMetadata", "the server answered the list with metadata only");
        assert.equal(o.data, undefined);
        assert.equal(o.type, undefined);
      }

      // A Secret made after the list comes through the watch, as metadata too.
      await secret("late", { blob: b64(randomBytes(NOISE_BYTES)) });
      await waitFor("the watch shows the late Secret", () => inf.get(t.ns, "late"));
      assert.ok(raw.length > listed);
      for (const o of raw.slice(listed)) {
        assert.equal(o.kind, "PartialObjectMetadata", "the server sent a watch event with metadata only");
        assert.equal(o.data, undefined);
      }

      // Named: read with its data, once per version; its words are known from then on.
      assert.equal((await reader.get(t.ns, "ssh-key"))?.data?.value, b64("PRIVATE-KEY-one-0a1b2c3d4e5f"));
      await reader.get(t.ns, "ssh-key");
      assert.deepEqual(gets, ["ssh-key"]);
      assert.ok(!words.redact("key PRIVATE-KEY-one-0a1b2c3d4e5f").includes("0a1b2c3d4e5f"));
      const before = reader.version(t.ns, "ssh-key");
      await api.patch(R.secrets, t.ns, "ssh-key", { data: { value: b64("PRIVATE-KEY-two-9f8e7d6c5b4a") } });
      await waitFor("the watch shows the new version", () => reader.version(t.ns, "ssh-key") !== before);
      assert.equal((await reader.get(t.ns, "ssh-key"))?.data?.value, b64("PRIVATE-KEY-two-9f8e7d6c5b4a"));
      assert.deepEqual(gets, ["ssh-key", "ssh-key"]);

      // A single Secret's metadata (a provisionJob's Secret whose name is taken: who owns it?).
      const meta = (await api.getMetadata<{ name: string; labels?: Record<string, string> }>(
        R.secrets,
        t.ns,
        "noise-0",
      )) as { metadata: { name: string; labels?: Record<string, string> }; kind?: string; data?: unknown };
      assert.equal(meta.kind, "PartialObjectMetadata");
      assert.equal(meta.metadata.labels?.noise, "yes");
      assert.equal(meta.data, undefined);

      // A Helm release named by mistake is read without its data.
      const release = await reader.get(t.ns, "release");
      assert.equal(release?.type, "helm.sh/release.v1");
      assert.equal(release?.data, undefined);

      // Deleted: gone from the reader and from the words, with no GET.
      await api.delete(R.secrets, t.ns, "ssh-key");
      await waitFor("the watch shows the deletion", () => !inf.get(t.ns, "ssh-key"));
      assert.equal(await reader.get(t.ns, "ssh-key"), undefined);
      assert.ok(words.redact("PRIVATE-KEY-two-9f8e7d6c5b4a").includes("9f8e7d6c5b4a"));
      assert.deepEqual(gets, ["ssh-key", "ssh-key", "release"], "no unnamed Secret was read");
      assert.equal(reader.held().copies, 1);
    } finally {
      inf.stop();
      reader.stop();
    }
  });
});
