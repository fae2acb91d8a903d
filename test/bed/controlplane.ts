/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver built from Go modules
 * (versions.env), on free loopback ports, with generated certificates and an admin token.
 * What controller-runtime's envtest does for Go projects, for ours.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { makeCA, makeClientCert, makeServiceAccountKey, makeServingCert } from "./certs.js";
import { Fatal, freePort, startProcess, stopPid, waitFor } from "./util.js";
import { binaryPath, ensureBinaries } from "./versions.js";

/** Address of the test-host bridge on this machine; test hosts reach the API server there. */
export const BRIDGE_GATEWAY = "198.18.0.1";

export interface ControlPlaneInfo {
  dir: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The same API server as test hosts reach it (through the bridge). */
  hostServer: string;
  port: number;
  token: string;
  caFile: string;
  caPEM: string;
  /** Kubeconfig with the admin token, for tests and tools. */
  kubeconfig: string;
  pids: { etcd: number; apiserver: number };
  /** How kube-apiserver was started (for restarts). */
  apiserverArgs?: string[];
}

/** GET with the test CA and admin token; resolves with status and body. */
export function apiGet(info: Pick<ControlPlaneInfo, "caPEM" | "token">, url: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      url,
      { ca: info.caPEM, headers: { authorization: `Bearer ${info.token}` }, timeout: 5000 },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** A kubeconfig document for `server` with a bearer token. */
export function kubeconfigYaml(server: string, caPEM: string, token: string, user = "admin"): string {
  const ca = Buffer.from(caPEM).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: testbed",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: testbed",
    "  context:",
    "    cluster: testbed",
    `    user: ${user}`,
    "current-context: testbed",
    "",
  ].join("\n");
}

export interface ControlPlaneOptions {
  /**
   * Real kubelets will join (the kubeadm bed): bootstrap-token authentication and the Node
   * authorizer with NodeRestriction, as `kubeadm init` configures them, and kubelets dialled by
   * their InternalIP (never a name lookup through this machine's resolver) with a client cert.
   */
  realNodes?: boolean;
}

/** Starts etcd and kube-apiserver under `dir`; resolves when /readyz answers ok. */
export async function startControlPlane(dir: string, opts: ControlPlaneOptions = {}): Promise<ControlPlaneInfo> {
  await ensureBinaries(["etcd", "kube-apiserver"]);
  const pki = join(dir, "pki");
  await mkdir(pki, { recursive: true });
  await mkdir(join(dir, "etcd"), { recursive: true });

  const ca = await makeCA(pki);
  const serving = await makeServingCert(pki, "apiserver", ca, {
    dns: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
    ips: ["127.0.0.1", "::1", BRIDGE_GATEWAY, "10.0.0.1"],
  });
  const sa = await makeServiceAccountKey(pki);
  const kubeletClient = opts.realNodes
    ? await makeClientCert(pki, "apiserver-kubelet-client", ca, "kube-apiserver-kubelet-client", ["system:masters"])
    : undefined;
  const token = randomBytes(24).toString("hex");
  await writeFile(join(pki, "tokens.csv"), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });

  const etcdPort = await freePort();
  const peerPort = await freePort();
  const etcd = startProcess(
    binaryPath("etcd"),
    [
      "--name=testbed",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=testbed=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
    join(dir, "etcd.log"),
  );

  const port = await freePort();
  // Listens on every address so that test hosts in their network namespaces reach it through
  // the bridge; it still needs the admin token or a service-account token.
  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--cert-dir=${pki}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${ca.cert}`,
    `--secure-port=${port}`,
    "--bind-address=0.0.0.0",
    "--advertise-address=127.0.0.1",
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
    ...(opts.realNodes
      ? [
          "--authorization-mode=Node,RBAC",
          "--enable-bootstrap-token-auth=true",
          "--enable-admission-plugins=NodeRestriction",
          "--kubelet-preferred-address-types=InternalIP",
          `--kubelet-client-certificate=${kubeletClient?.cert}`,
          `--kubelet-client-key=${kubeletClient?.key}`,
        ]
      : ["--authorization-mode=RBAC"]),
    `--token-auth-file=${join(pki, "tokens.csv")}`,
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${sa.pub}`,
    `--service-account-signing-key-file=${sa.key}`,
    "--api-audiences=https://kubernetes.default.svc",
    "--v=0",
  ];
  const apiserver = startProcess(binaryPath("kube-apiserver"), apiserverArgs, join(dir, "kube-apiserver.log"));

  const caPEM = await readFile(ca.cert, "utf8");
  const server = `https://127.0.0.1:${port}`;
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, kubeconfigYaml(server, caPEM, token), { mode: 0o600 });
  const info: ControlPlaneInfo = {
    dir,
    server,
    hostServer: `https://${BRIDGE_GATEWAY}:${port}`,
    port,
    token,
    caFile: ca.cert,
    caPEM,
    kubeconfig,
    pids: { etcd: etcd.pid ?? 0, apiserver: apiserver.pid ?? 0 },
    apiserverArgs,
  };
  try {
    await waitFor(
      "kube-apiserver /readyz",
      async () => {
        if (apiserver.exitCode !== null) throw new Fatal(`kube-apiserver exited (${join(dir, "kube-apiserver.log")})`);
        if (etcd.exitCode !== null) throw new Fatal(`etcd exited (${join(dir, "etcd.log")})`);
        return (await apiGet(info, `${server}/readyz`)).status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
  } catch (e) {
    await stopControlPlane(info);
    throw e;
  }
  return info;
}

/** Stops the API server, then etcd. */
export async function stopControlPlane(info: Pick<ControlPlaneInfo, "pids">): Promise<void> {
  await stopPid(info.pids.apiserver);
  await stopPid(info.pids.etcd);
}

/**
 * Stops kube-apiserver (SIGTERM, as a rolling restart does), keeps it down for `downMs`, starts
 * it again with the same arguments, and resolves when /readyz answers ok again. etcd keeps
 * running, so every object survives. Only for beds this process owns.
 */
export async function restartApiServer(
  info: ControlPlaneInfo,
  downMs: number,
  drainMs = 3_000,
): Promise<{ stoppedAt: number; readyAt: number }> {
  if (!info.apiserverArgs) throw new Error("this control plane does not know how it was started");
  // SIGTERM closes the listener at once; the old process then drains its open watches until it
  // is killed after `drainMs` (kubelet does the same at the end of a pod's grace period).
  const stoppedAt = Date.now();
  await stopPid(info.pids.apiserver, drainMs);
  await new Promise((r) => setTimeout(r, downMs));
  const apiserver = startProcess(
    binaryPath("kube-apiserver"),
    info.apiserverArgs,
    join(info.dir, "kube-apiserver.log"),
  );
  info.pids.apiserver = apiserver.pid ?? 0;
  await waitFor(
    "kube-apiserver /readyz after restart",
    async () => {
      if (apiserver.exitCode !== null)
        throw new Fatal(`kube-apiserver exited (${join(info.dir, "kube-apiserver.log")})`);
      return (await apiGet(info, `${info.server}/readyz`).catch(() => ({ status: 0 }))).status === 200;
    },
    { timeoutMs: 90_000, intervalMs: 100 },
  );
  return { stoppedAt, readyAt: Date.now() };
}
