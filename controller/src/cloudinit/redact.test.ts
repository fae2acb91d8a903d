import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeRedactor, REDACTED, SecretWordIndex } from "./redact.js";

describe("makeRedactor", () => {
  const data =
    "#cloud-config\nruncmd: [k0s install worker --token-file /etc/k0s.token]\nwrite_files: [{path: /etc/k0s.token, content: H4sIAAAAAAAA_secretTokenValue}]";
  const redact = makeRedactor([data, "H4sIAAAAAAAA_secretTokenValue"]);
  const cases: [string, string][] = [
    ["error: token H4sIAAAAAAAA_secretTokenValue rejected", `error: token ${REDACTED} rejected`],
    ["kubeadm join --token abcdef.0123456789abcdef", `kubeadm join --token ${REDACTED}`],
    ["-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----", REDACTED],
    ["Authorization: eyJhbGciOiJSUzI1.eyJpc3MiOiJrdWJlcm5ldGVz.c2lnbmF0dXJlc2lnbmF0", `Authorization: ${REDACTED}`],
    ["connection refused by 198.18.1.2:22", "connection refused by 198.18.1.2:22"],
    ["short words stay", "short words stay"],
  ];
  for (const [input, want] of cases) it(JSON.stringify(input.slice(0, 40)), () => assert.equal(redact(input), want));
});

describe("SecretWordIndex", () => {
  it("redacts the words of every source, follows a source's changes, and forgets deleted ones", () => {
    const idx = new SecretWordIndex();
    idx.set("ns/a", ["token: firstSecretWord123, shared: sharedSecretWord1"]);
    idx.set("ns/b", ["sharedSecretWord1"]);
    assert.equal(idx.redact("firstSecretWord123 sharedSecretWord1"), `${REDACTED} ${REDACTED}`);
    // A changed Secret: its old words are no longer secret, its new ones are.
    idx.set("ns/a", ["secondSecretWord456"]);
    assert.equal(idx.redact("firstSecretWord123 secondSecretWord456"), `firstSecretWord123 ${REDACTED}`);
    // A word two Secrets hold stays secret until both are gone.
    assert.equal(idx.redact("sharedSecretWord1"), REDACTED);
    idx.delete("ns/b");
    assert.equal(idx.redact("sharedSecretWord1"), "sharedSecretWord1");
    idx.delete("ns/a");
    assert.equal(idx.redact("secondSecretWord456"), "secondSecretWord456");
    // The shapes that are always secret need no source.
    assert.equal(idx.redact("join --token abcdef.0123456789abcdef"), `join --token ${REDACTED}`);
  });
});
