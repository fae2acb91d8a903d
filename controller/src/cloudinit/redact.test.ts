import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeRedactor, REDACTED } from "./redact.js";

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
