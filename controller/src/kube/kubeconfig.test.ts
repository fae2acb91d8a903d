import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { scratchDir } from "../../../test/bed/util.js";
import { makeLogger } from "../runtime/log.js";
import { NodeWatcher } from "../workload/nodes.js";
import { checkWorkloadKubeconfig, kubeConfigOf } from "./kubeconfig.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcfake\n-----END EC PRIVATE KEY-----\n";
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig in the shape Cluster API writes, with the cluster and user fields given. */
function kubeconfig(cluster: string, user: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: w
  cluster:
${cluster}
contexts:
- name: w@admin
  context: {cluster: w, user: admin}
current-context: w@admin
users:
- name: admin
  user:
${user}
`;
}
const capiCluster = `    server: https://10.0.0.1:6443\n    certificate-authority-data: ${b64(PEM)}`;
const capiUser = `    client-certificate-data: ${b64(PEM)}\n    client-key-data: ${b64(KEY)}`;

describe("checkWorkloadKubeconfig: only what a Cluster API kubeconfig Secret holds", () => {
  it("accepts Cluster API's shape (https, inline CA, inline client certificate and key)", () => {
    const r = checkWorkloadKubeconfig(kubeconfig(capiCluster, capiUser));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.access.server, "https://10.0.0.1:6443");
    assert.equal(r.access.caData, PEM);
    assert.deepEqual(r.access.auth, { certData: PEM, keyData: KEY });
  });

  it("accepts an inline token, and insecure-skip-tls-verify: false", () => {
    const r = checkWorkloadKubeconfig(
      kubeconfig(`${capiCluster}\n    insecure-skip-tls-verify: false`, "    token: abc.def"),
    );
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.access.auth, { token: "abc.def" });
  });

  const refused: [string, string, string, string][] = [
    [
      "an exec plugin",
      capiCluster,
      "    exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: [-c, id]}",
      "users[0].user.exec",
    ],
    [
      "an auth provider with tokenFile",
      capiCluster,
      "    auth-provider: {name: x, config: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}}",
      "users[0].user.auth-provider",
    ],
    ["tokenFile", capiCluster, "    tokenFile: /etc/passwd", "users[0].user.tokenFile"],
    [
      "a client-key file",
      capiCluster,
      `    client-certificate-data: ${b64(PEM)}\n    client-key: /etc/shadow`,
      "users[0].user.client-key",
    ],
    ["a client-certificate file", capiCluster, "    client-certificate: /etc/x", "users[0].user.client-certificate"],
    [
      "a certificate-authority file",
      "    server: https://10.0.0.1:6443\n    certificate-authority: /etc/ssl/ca.pem",
      capiUser,
      "clusters[0].cluster.certificate-authority",
    ],
    [
      "proxy-url",
      `${capiCluster}\n    proxy-url: http://attacker.example:3128`,
      capiUser,
      "clusters[0].cluster.proxy-url",
    ],
    [
      "insecure-skip-tls-verify: true",
      `${capiCluster}\n    insecure-skip-tls-verify: true`,
      capiUser,
      "clusters[0].cluster.insecure-skip-tls-verify",
    ],
    [
      "an http server",
      `    server: http://10.0.0.1:6443\n    certificate-authority-data: ${b64(PEM)}`,
      capiUser,
      "clusters[0].cluster.server",
    ],
    ["basic auth", capiCluster, "    username: a\n    password: b", "users[0].user.username"],
    ["impersonation", capiCluster, `${capiUser}\n    as: system:admin`, "users[0].user.as"],
    [
      "no CA (the server would not be verified)",
      "    server: https://10.0.0.1:6443",
      capiUser,
      "clusters[0].cluster.certificate-authority-data",
    ],
    ["no credentials", capiCluster, "    {}", "users[0].user"],
  ];
  for (const [what, cluster, user, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      const r = checkWorkloadKubeconfig(kubeconfig(cluster, user));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.field, field);
      assert.match(r.message, new RegExp(`^${field.replace(/[[\].]/g, "\\$&")}: `));
      assert.match(r.reason, /^(Unsafe|Invalid)Kubeconfig$/);
    });
  }

  it("refuses YAML aliases (alias bombs) and text over the size limit", () => {
    const aliased = `a: &x [1,2]\nb: *x\ncurrent-context: w\n`;
    const r = checkWorkloadKubeconfig(aliased);
    assert.equal(r.ok, false);
    const big = checkWorkloadKubeconfig(`# ${"x".repeat(1024 * 1024 + 1)}\n`);
    assert.equal(big.ok, false);
    if (!big.ok) assert.match(big.message, /longer than 1048576 bytes/);
  });

  it("looks only at the current context: an exec user elsewhere in the file is never used", () => {
    const text = `${kubeconfig(capiCluster, capiUser)}- name: other\n  user:\n    exec: {command: sh}\n`;
    const r = checkWorkloadKubeconfig(text);
    assert.ok(r.ok);
    const kc = kubeConfigOf(r.access);
    assert.equal(kc.getUsers().length, 1);
    assert.equal(kc.getCurrentUser()?.exec, undefined);
  });

  it("builds the client config from the validated fields alone", () => {
    const r = checkWorkloadKubeconfig(kubeconfig(capiCluster, capiUser));
    assert.ok(r.ok);
    const kc = kubeConfigOf(r.access);
    const c = kc.getCurrentCluster();
    assert.equal(c?.server, "https://10.0.0.1:6443");
    assert.equal(c?.skipTLSVerify, false);
    assert.equal(c?.proxyUrl, undefined);
    assert.equal(Buffer.from(c?.caData ?? "", "base64").toString(), PEM);
    const u = kc.getCurrentUser();
    assert.equal(u?.authProvider, undefined);
    assert.equal(Buffer.from(u?.keyData ?? "", "base64").toString(), KEY);
  });
});

describe("NodeWatcher with a hostile kubeconfig (the review's C1 repro, real client code)", () => {
  it("runs no exec plugin, reads no token file and sends no request; says why", async () => {
    const dir = scratchDir("kubeconfig-test-");
    const marker = join(dir, "pwned");
    const tokenFile = join(dir, "sa-token");
    writeFileSync(tokenFile, "CONTROLLER-SA-TOKEN");
    const seen: string[] = [];
    const srv = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    const hostile = (user: string, server = `https://127.0.0.1:${port}`) =>
      kubeconfig(`    server: ${server}\n    certificate-authority-data: ${b64(PEM)}`, user);
    const changes: string[] = [];
    const w = new NodeWatcher(makeLogger({ level: "error", write: () => {} }), (k) => changes.push(k));
    try {
      const exec = w.nodesOf(
        "t/c1",
        hostile(
          `    exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: ["-c", "touch ${marker}"]}`,
        ),
        "1",
      );
      const file = w.nodesOf("t/c2", hostile(`    auth-provider: {name: x, config: {tokenFile: ${tokenFile}}}`), "1");
      const http = w.nodesOf("t/c3", hostile("    token: t", `http://127.0.0.1:${port}`), "1");
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(existsSync(marker), false, "the exec plugin ran");
      assert.deepEqual(seen, [], "a request reached the kubeconfig's server");
      for (const [got, field] of [
        [exec, "users[0].user.exec"],
        [file, "users[0].user.auth-provider"],
        [http, "clusters[0].cluster.server"],
      ] as const) {
        assert.ok(got && "refused" in got && got.refused, `not refused: ${field}`);
        assert.match(got.refused.message, new RegExp(field.replace(/[[\].]/g, "\\$&")));
      }
      // The refusal is remembered per Secret version (no re-parse, no watch) ...
      const again = w.nodesOf("t/c1", "ignored: the version did not change", "1");
      assert.ok(again && "refused" in again);
      assert.deepEqual(changes, []);
    } finally {
      w.stop();
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
