/**
 * /metrics over HTTPS with a real TLS client: the self-signed default, a mounted certificate
 * verified against its CA, its renewal picked up without a restart, a mismatched pair refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Registry } from "prom-client";
import { makeCA, makeServingCert } from "../../../test/bed/certs.js";
import { getMetrics } from "../../../test/bed/metrics.js";
import { serveMetrics } from "../runtime/http.js";
import { metricsCertificate, readCertDir, selfSignedCert, watchCertDir } from "./metricscert.js";

const dir = mkdtempSync(join(tmpdir(), "metricscert-"));
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A CA and a serving certificate for 127.0.0.1 signed by it, as tls.crt and tls.key in `d`; the CA's PEM. */
async function issue(d: string, cn: string): Promise<string> {
  const ca = await makeCA(d, `ca-${cn}`);
  const served = await makeServingCert(d, cn, ca, { ips: ["127.0.0.1"] });
  // As a Secret volume renews: both files replaced at once.
  renameSync(served.key, join(d, "tls.key"));
  renameSync(served.cert, join(d, "tls.crt"));
  return readFileSync(ca.cert, "utf8");
}

/** GET /metrics as `token`, verified against `ca` when given. */
const get = async (port: number, ca?: string, token?: string) => {
  const r = await getMetrics(port, { ...(ca ? { ca } : {}), ...(token ? { token } : {}) });
  return { status: r.status, cn: r.subject, body: r.text };
};

async function serve(tls?: { cert: string; key: string }) {
  const registry = new Registry();
  const authorize = async (h: string | undefined) =>
    h === "Bearer good" ? { code: 200 } : { code: 401, message: "no" };
  const m = await serveMetrics({ address: "127.0.0.1:0", registry, authorize, ...(tls ? { tls } : {}) });
  servers.push(m.server);
  return { ...m, port: (m.server.address() as AddressInfo).port };
}

describe("/metrics over HTTPS", () => {
  it("serves a self-signed certificate by default, and answers only an authorized token", async () => {
    const cert = await metricsCertificate(undefined, ["capi-remote-abc"]);
    assert.equal(cert.source, "self-signed");
    const m = await serve(cert);
    const anon = await get(m.port);
    assert.equal(anon.status, 401);
    assert.equal(anon.cn, "capi-remote-abc");
    assert.equal((await get(m.port, undefined, "good")).status, 200);
    // Its own certificate verifies it (the SAN holds 127.0.0.1).
    assert.equal((await get(m.port, cert.cert, "good")).status, 200);
    // Not plain HTTP.
    await assert.rejects(fetch(`http://127.0.0.1:${m.port}/metrics`));
  });

  it("serves a mounted certificate, verified against its CA, and picks up its renewal without a restart", async () => {
    const d = mkdtempSync(join(dir, "mounted-"));
    const ca1 = await issue(d, "first");
    const m = await serve(await readCertDir(d));
    assert.equal((await get(m.port, ca1, "good")).cn, "first");
    await assert.rejects(
      get(m.port, (await selfSignedCert(["x"])).cert, "good"),
      /self.signed|unable to verify|certificate/i,
    );
    const seen: string[] = [];
    const stop = watchCertDir(
      d,
      (c) => {
        m.setTls(c);
        seen.push(c.source);
      },
      (e) => assert.fail(String(e)),
      100,
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ca2 = await issue(d, "second");
      const end = Date.now() + 5_000;
      while (seen.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const after = await get(m.port, ca2, "good");
      assert.equal(after.cn, "second");
      assert.equal(after.status, 200);
    } finally {
      stop();
    }
  });

  it("refuses a key that is not the certificate's", async () => {
    const d = mkdtempSync(join(dir, "mismatch-"));
    await issue(d, "one");
    const other = await selfSignedCert(["two"]);
    writeFileSync(join(d, "tls.key"), other.key);
    await assert.rejects(readCertDir(d), /is not the key of/);
  });

  it("serves plain HTTP when asked (--metrics-secure=false)", async () => {
    const m = await serve();
    assert.equal(
      (await fetch(`http://127.0.0.1:${m.port}/metrics`, { headers: { authorization: "Bearer good" } })).status,
      200,
    );
  });
});
