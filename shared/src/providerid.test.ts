import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatProviderID, parseProviderID, sameProviderID } from "./providerid.js";

describe("formatProviderID", () => {
  const cases: [string, number, string][] = [
    ["192.168.1.100", 22, "remote-machine://192.168.1.100:22"],
    ["node-1.example.com", 2222, "remote-machine://node-1.example.com:2222"],
    ["fd00::1", 22, "remote-machine://[fd00::1]:22"],
    ["::1", 22, "remote-machine://[::1]:22"],
    ["[fd00::1]", 22, "remote-machine://[fd00::1]:22"],
    ["fe80::1%eth0", 22, "remote-machine://[fe80::1%eth0]:22"],
  ];
  for (const [address, port, want] of cases) {
    it(`${address}:${port} -> ${want}`, () => assert.equal(formatProviderID(address, port), want));
  }
});

describe("parseProviderID", () => {
  const cases: [string, { address: string; port: number } | undefined][] = [
    ["remote-machine://192.168.1.100:22", { address: "192.168.1.100", port: 22 }],
    ["remote-machine://[fd00::1]:2222", { address: "fd00::1", port: 2222 }],
    // k0smotron's unbracketed IPv6: the last colon separates the port.
    ["remote-machine://fd00::1:22", { address: "fd00::1", port: 22 }],
    ["remote-machine://host.example:65535", { address: "host.example", port: 65535 }],
    ["remote-machine://host.example:0", undefined],
    ["remote-machine://host.example:65536", undefined],
    ["remote-machine://host.example", undefined],
    ["remote-machine://:22", undefined],
    ["remote-machine://[fd00::1]22", undefined],
    ["remote-machine://a/b:22", undefined],
    ["aws:///us-east-1a/i-123", undefined],
    ["", undefined],
  ];
  for (const [id, want] of cases) {
    it(`${JSON.stringify(id)}`, () => assert.deepEqual(parseProviderID(id), want));
  }

  it("round-trips every formatted ID", () => {
    for (const [a, p] of [
      ["10.0.0.1", 22],
      ["fd00::abcd", 2200],
      ["x.y", 1],
    ] as const) {
      assert.deepEqual(parseProviderID(formatProviderID(a, p)), { address: a, port: p });
    }
  });
});

describe("sameProviderID", () => {
  it("treats k0smotron's bare IPv6 and our bracketed form as one machine", () =>
    assert.ok(sameProviderID("remote-machine://fd00::1:22", "remote-machine://[fd00::1]:22")));
  it("tells different ports apart", () =>
    assert.ok(!sameProviderID("remote-machine://10.0.0.1:22", "remote-machine://10.0.0.1:23")));
  it("compares foreign IDs as strings", () => assert.ok(sameProviderID("aws:///a/i-1", "aws:///a/i-1")));
});
