import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { makeLogger } from "../runtime/log.js";
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

describe("redaction of the forms the review found (M7)", () => {
  const token = "K0sJoinTokenSecretPart9f3a";
  const caLine = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
  const fileB64 = gzipSync(Buffer.from("serviceaccount-signing-secret: SaSigningKeyMaterial0001\n")).toString("base64");
  const plainB64 = Buffer.from("password=PlainB64SecretValue42\n").toString("base64");
  const data = `#cloud-config\nruncmd:\n  - K0S_TOKEN=${token} k0s install worker\nwrite_files:\n  - {path: /etc/sa.cfg, encoding: gz+b64, content: ${fileB64}}\n  - {path: /etc/p, encoding: b64, content: ${plainB64}}\n  - {path: /etc/x, content: "${caLine}"}\n`;
  const idx = new SecretWordIndex();
  idx.set("tenant/bootstrap", [data]);
  const lines: string[] = [];
  const log = makeLogger({ level: "debug", write: (l) => lines.push(l), redact: idx.redact });
  const secrets = /K0sJoinTokenSecretPart9f3a|SaSigningKeyMaterial0001|MIIEpAIBAAKCAQEAu1SU1|PlainB64SecretValue42/;
  const cases: [string, string][] = [
    ["the word as written (key=value)", `K0S_TOKEN=${token}`],
    ["the value alone (after --token)", `k0s: bad --token ${token}`],
    ["the value under another key", `TOKEN=${token}`],
    ["on its own line through a log field (JSON \\n)", `Last output:\n${token}`],
    ["a gz+b64 file's content as the host prints it", "serviceaccount-signing-secret: SaSigningKeyMaterial0001"],
    ["a b64 file's content", "password=PlainB64SecretValue42"],
    ["a PEM body line after a newline, through the logger", `...\n${caLine}`],
  ];
  for (const [what, text] of cases)
    it(what, () => {
      assert.doesNotMatch(idx.redact(text), secrets);
      lines.length = 0;
      log.info("cannot bootstrap yet", { err: new Error(text), text });
      assert.equal(lines.length, 1);
      assert.doesNotMatch(lines[0] ?? "", secrets);
    });
  it("keeps what is not secret", () =>
    assert.equal(idx.redact("K0S_TOKEN=something-else-entirely"), "K0S_TOKEN=something-else-entirely"));
});
