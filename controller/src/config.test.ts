import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "./config.js";

describe("parseConfig", () => {
  it("defaults", () => {
    const c = parseConfig([], {});
    assert.ok(c !== "help");
    assert.equal(c.concurrency, 50);
    assert.equal(c.leaderElect, true);
    assert.equal(c.healthAddress, ":8081");
    assert.equal(c.metricsAddress, ":8443");
    assert.equal(c.metricsSecure, true);
    assert.equal(c.metricsCertDir, undefined);
    assert.equal(c.leaseDurationMs, 15_000);
  });
  it("metrics: 0 turns the endpoint off; --metrics-secure takes true or false", () => {
    const c = parseConfig(["--metrics-addr=0", "--metrics-secure=false", "--metrics-cert-dir=/certs"], {});
    assert.ok(c !== "help");
    assert.equal(c.metricsAddress, "");
    assert.equal(c.metricsSecure, false);
    assert.equal(c.metricsCertDir, "/certs");
    assert.throws(() => parseConfig(["--metrics-secure=maybe"], {}), /--metrics-secure must be true or false/);
  });
  it("flags win over the environment", () => {
    const c = parseConfig(["--concurrency=3", "--leader-elect=false"], {
      CAPI_REMOTE_CONCURRENCY: "7",
      POD_NAMESPACE: "ns1",
    });
    assert.ok(c !== "help");
    assert.equal(c.concurrency, 3);
    assert.equal(c.leaderElect, false);
    assert.equal(c.leaderElectionNamespace, "ns1");
  });
  it("rejects bad values with a readable message", () => {
    assert.throws(() => parseConfig(["--concurrency=zero"], {}), /--concurrency must be a positive number/);
    assert.throws(() => parseConfig(["--log-level=loud"], {}), /--log-level/);
    assert.throws(() => parseConfig(["--no-such-flag"], {}), /Unknown option/);
  });
  it("--ssh-namespace-share: 0.5 by default; with --namespace the one namespace holds every limit whole", () => {
    const all = parseConfig([], {});
    const one = parseConfig(["--namespace=team-a"], {});
    const set = parseConfig(["--ssh-namespace-share=0.2"], {});
    assert.ok(all !== "help" && one !== "help" && set !== "help");
    assert.equal(all.sshNamespaceShare, 0.5);
    assert.equal(one.sshNamespaceShare, 1);
    assert.equal(set.sshNamespaceShare, 0.2);
    assert.throws(() => parseConfig(["--ssh-namespace-share=2"], {}), /at most 1/);
  });
  it("--provision-jobs: on unless turned off, by flag or environment", () => {
    const on = parseConfig([], {});
    const off = parseConfig([], { CAPI_REMOTE_PROVISION_JOBS: "false" });
    const flag = parseConfig(["--provision-jobs=false"], { CAPI_REMOTE_PROVISION_JOBS: "true" });
    assert.ok(on !== "help" && off !== "help" && flag !== "help");
    assert.equal(on.provisionJobs, true);
    assert.equal(off.provisionJobs, false);
    assert.equal(flag.provisionJobs, false);
    assert.throws(() => parseConfig(["--provision-jobs=no"], {}), /--provision-jobs must be true or false/);
  });
  it("--help", () => assert.equal(parseConfig(["--help"], {}), "help"));
});
