/** Host-key policies of targets and bastions (H7, M1 strict mode, L5, H1 limits). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Secret } from "../kube/objects.js";
import { type ConnectionSpec, sshTargetFor } from "./sshtarget.js";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const ATTACKER = `ssh-ed25519 ${Buffer.alloc(51, 7).toString("base64")}`;
const secrets: Record<string, Secret> = {
  k: { metadata: { name: "k" }, data: { value: Buffer.from("KEY").toString("base64") } },
  kh: {
    metadata: { name: "kh" },
    data: { known_hosts: Buffer.from(`bastion.example,203.0.113.9 ${ED}\n${ED}\n`).toString("base64") },
  },
};
const secret = (n: string | undefined) => (n ? secrets[n] : undefined);
const spec = (extra: Partial<ConnectionSpec>): ConnectionSpec =>
  ({ address: "10.0.0.5", sshKeyRef: { name: "k" }, hostKeys: [`10.0.0.5 ${ED}`], ...extra }) as ConnectionSpec;
const bastion = (extra: object = {}) => ({ address: "203.0.113.9", sshKeyRef: { name: "k" }, ...extra });

describe("bastion host keys fail closed (H7)", () => {
  it("no hostKeys: refused with HostKeyNotPinned, nothing dialled", () => {
    const t = sshTargetFor(secret, spec({ bastion: bastion() }), undefined);
    assert.ok(
      "reason" in t &&
        t.reason === "HostKeyNotPinned" &&
        /bastion 203\.0\.113\.9 has no pinned host key/.test(t.message),
    );
  });
  it("hostKeys for another host: refused, naming spec.bastion.hostKeys and the address", () => {
    const t = sshTargetFor(secret, spec({ bastion: bastion({ hostKeys: [`bastion.other ${ED}`] }) }), undefined);
    assert.ok(
      "reason" in t &&
        t.reason === "HostKeyNotPinned" &&
        /spec\.bastion\.hostKeys pins no key for the bastion's address 203\.0\.113\.9/.test(t.message),
    );
  });
  it("hostKeys for its address: pinned, and an attacker's key is refused", async () => {
    const { acceptHostKey } = await import("../ssh/hostkeys.js");
    const t = sshTargetFor(secret, spec({ bastion: bastion({ hostKeys: [`203.0.113.9 ${ED}`] }) }), undefined);
    assert.ok("target" in t);
    const pol = t.target.bastion?.hostKeys;
    assert.deepEqual(pol, { mode: "pinned", keys: [ED] });
    assert.ok(pol && !acceptHostKey(pol, ATTACKER));
  });
  it("a line naming the bastion in the known_hosts Secret pins it; the Secret's bare keys do not", () => {
    const t = sshTargetFor(
      secret,
      spec({ hostKeys: undefined, hostKeysSecretRef: { name: "kh" }, bastion: bastion() }),
      undefined,
    );
    assert.ok("target" in t && t.target.bastion?.hostKeys.mode === "pinned");
    const only = {
      ...secrets,
      kh2: { metadata: { name: "kh2" }, data: { known_hosts: Buffer.from(`${ED}\n`).toString("base64") } },
    };
    const t2 = sshTargetFor(
      (n) => (n ? only[n as keyof typeof only] : undefined),
      spec({ hostKeys: undefined, hostKeysSecretRef: { name: "kh2" }, bastion: bastion() }),
      undefined,
    );
    assert.ok("reason" in t2 && t2.reason === "HostKeyNotPinned");
  });
  it("insecureSkipHostKeyVerification still means insecure for both", () => {
    const t = sshTargetFor(secret, spec({ insecureSkipHostKeyVerification: true, bastion: bastion() }), undefined);
    assert.ok("target" in t && t.target.bastion?.hostKeys.mode === "insecure");
  });
});

describe("target host keys", () => {
  it("strict mode refuses a machine without pins (M1)", () => {
    const t = sshTargetFor(secret, spec({ hostKeys: undefined }), undefined, { requirePinned: true });
    assert.ok("reason" in t && t.reason === "HostKeyNotPinned" && /--require-pinned-host-keys/.test(t.message));
    const ok = sshTargetFor(secret, spec({}), undefined, { requirePinned: true });
    assert.ok("target" in ok && ok.target.hostKeys.mode === "pinned");
  });
  it("without strict mode, first use as before", () => {
    const t = sshTargetFor(secret, spec({ hostKeys: undefined }), undefined);
    assert.ok("target" in t && t.target.hostKeys.mode === "tofu");
  });
  it("@cert-authority alone is refused clearly; @revoked is carried into the policy (L5)", () => {
    const ca = sshTargetFor(secret, spec({ hostKeys: [`@cert-authority *.example,10.0.0.* ${ED}`] }), undefined);
    assert.ok("reason" in ca && ca.reason === "InvalidHostKeys" && /@cert-authority/.test(ca.message));
    const rev = sshTargetFor(secret, spec({ hostKeys: [`@revoked * ${ED}`, `10.0.0.5 ${ED}`] }), undefined);
    assert.ok("target" in rev);
    assert.deepEqual(rev.target.hostKeys, { mode: "pinned", keys: [], revoked: [ED] });
  });
  it("hostKeys over a limit: InvalidHostKeys naming the field and the limit (H1)", () => {
    const t = sshTargetFor(secret, spec({ hostKeys: [`${Array(2000).fill("h").join(",")} ${ED}`] }), undefined);
    assert.ok(
      "reason" in t &&
        t.reason === "InvalidHostKeys" &&
        /spec\.hostKeys line 1 has 2000 host patterns; at most 1024/.test(t.message),
    );
  });
});
