import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Secret } from "../kube/objects.js";
import { DATALESS_SECRET_TYPES, datalessNote, projectSecret } from "./secretcache.js";
import { sshTargetFor } from "./sshtarget.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const secret = (name: string, type: string | undefined, data: Record<string, string>): Secret => ({
  metadata: { name, namespace: "t", resourceVersion: "1", uid: `u-${name}` },
  ...(type ? { type } : {}),
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe("the Secret cache", () => {
  it("keeps no data of Helm releases, service account tokens, pull secrets and bootstrap tokens", () => {
    const release = "x".repeat(256 * 1024);
    for (const type of DATALESS_SECRET_TYPES) {
      const kept = projectSecret(secret("s", type, { release }));
      assert.equal(kept.data, undefined, type);
      assert.equal(kept.metadata.name, "s");
      assert.equal(kept.type, type);
    }
    // 1,000 Helm releases of 256 KiB: what the cache holds of them.
    const given = 1000 * JSON.stringify(secret("r", "helm.sh/release.v1", { release })).length;
    const held = 1000 * JSON.stringify(projectSecret(secret("r", "helm.sh/release.v1", { release }))).length;
    console.log(
      `# 1,000 Helm release Secrets of 256 KiB: ${(given / 2 ** 20).toFixed(0)} MiB given, ${(held / 1024).toFixed(0)} KiB held`,
    );
    assert.ok(held < 200 * 1024);
  });

  it("keeps the data of every other type, and of Secrets without a type", () => {
    for (const type of [
      undefined,
      "Opaque",
      "cluster.x-k8s.io/secret",
      "kubernetes.io/ssh-auth",
      "kubernetes.io/tls",
    ]) {
      const kept = projectSecret(secret("s", type, { value: "key" }));
      assert.equal(kept.data?.value, b64("key"), String(type));
    }
  });

  it("an SSH key in a Secret of such a type is refused with a message that says why", () => {
    const key = projectSecret(secret("ssh-key", "kubernetes.io/service-account-token", { value: "k" }));
    const r = sshTargetFor(
      (n) => (n === "ssh-key" ? key : undefined),
      { address: "192.0.2.1", sshKeyRef: { name: "ssh-key" } },
      undefined,
    );
    assert.ok("reason" in r);
    assert.match(
      r.message,
      /has no key `value` \(capi-remote keeps no data of Secrets of type kubernetes\.io\/service-account-token; use type Opaque\)/,
    );
    assert.equal(datalessNote(secret("o", "Opaque", {})), "");
  });
});
