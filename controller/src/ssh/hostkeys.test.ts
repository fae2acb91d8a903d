import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { acceptHostKey, fingerprint, formatHostKey, hostKeyAlgorithms, pinnedKeysFor } from "./hostkeys.js";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxx";
const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQyy";

function hashed(host: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
}

describe("pinnedKeysFor", () => {
  const cases: [string, string, string, number, string[]][] = [
    ["plain host", `10.0.0.1 ${ED}`, "10.0.0.1", 22, [ED]],
    ["other host", `10.0.0.2 ${ED}`, "10.0.0.1", 22, []],
    ["host list", `a.example,10.0.0.1 ${ED}`, "10.0.0.1", 22, [ED]],
    ["non-default port", `[10.0.0.1]:2222 ${ED}`, "10.0.0.1", 2222, [ED]],
    ["port must match", `[10.0.0.1]:2222 ${ED}`, "10.0.0.1", 22, []],
    ["wildcard", `10.0.0.* ${ED}`, "10.0.0.7", 22, [ED]],
    ["negation", `10.0.0.*,!10.0.0.7 ${ED}`, "10.0.0.7", 22, []],
    ["hashed", `${hashed("10.0.0.1")} ${ED}`, "10.0.0.1", 22, [ED]],
    ["hashed other", `${hashed("10.0.0.9")} ${ED}`, "10.0.0.1", 22, []],
    ["bare key applies to any host", ED, "10.0.0.1", 22, [ED]],
    ["markers are not pins", `@revoked 10.0.0.1 ${ED}\n@cert-authority * ${RSA}`, "10.0.0.1", 22, []],
    ["comments and blank lines", `# pinned\n\n10.0.0.1 ${ED} root@host`, "10.0.0.1", 22, [ED]],
    ["several keys", `10.0.0.1 ${ED}\n10.0.0.1 ${RSA}`, "10.0.0.1", 22, [ED, RSA]],
  ];
  for (const [name, text, host, port, want] of cases)
    it(name, () => assert.deepEqual(pinnedKeysFor(text, host, port), want));
});

describe("acceptHostKey", () => {
  it("pinned: only the pinned keys", () => {
    assert.ok(acceptHostKey({ mode: "pinned", keys: [ED] }, `${ED} comment`));
    assert.ok(!acceptHostKey({ mode: "pinned", keys: [RSA] }, ED));
    assert.ok(!acceptHostKey({ mode: "pinned", keys: [] }, ED));
  });
  it("first use: anything, then only the recorded key", () => {
    assert.ok(acceptHostKey({ mode: "tofu" }, ED));
    assert.ok(acceptHostKey({ mode: "tofu", recorded: ED }, ED));
    assert.ok(!acceptHostKey({ mode: "tofu", recorded: RSA }, ED));
  });
  it("insecure: anything", () => assert.ok(acceptHostKey({ mode: "insecure" }, ED)));
});

describe("host key helpers", () => {
  it("formats a key blob as type and base64", () => {
    const type = Buffer.from("ssh-ed25519");
    const blob = Buffer.concat([Buffer.from([0, 0, 0, type.length]), type, Buffer.from([1, 2, 3])]);
    assert.equal(formatHostKey(blob), `ssh-ed25519 ${blob.toString("base64")}`);
  });
  it("prints SHA256 fingerprints as ssh-keygen does (no padding)", () => {
    assert.match(fingerprint(ED), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });
  it("offers the algorithms of the expected keys", () => {
    assert.deepEqual(hostKeyAlgorithms({ mode: "pinned", keys: [ED, RSA] }), [
      "ssh-ed25519",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
    assert.equal(hostKeyAlgorithms({ mode: "tofu" }), undefined);
    assert.equal(hostKeyAlgorithms({ mode: "insecure" }), undefined);
  });
});
