/**
 * The real Cluster API core manager, built from Go modules (versions.env), running against the
 * test bed's API server with its CRDs, conversion webhooks and admission webhooks registered, so
 * Clusters, Machines and MachineDeployments are converted, defaulted, validated and reconciled
 * as in a real management cluster.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { makeServingCert } from "./certs.js";
import { apiGet, type ControlPlaneInfo } from "./controlplane.js";
import { apply, type Clients, clientsFor, parseYamlObjects, waitEstablished } from "./kube.js";
import { Fatal, freePort, startProcess, stopPid, waitFor } from "./util.js";
import { binaryPath, ensureBinaries, goModuleDir, VERSIONS } from "./versions.js";

export interface CapiInfo {
  pid: number;
  webhookPort: number;
  healthPort: number;
  log: string;
  crdNames: string[];
}

type Webhook = { clientConfig: { service?: { path?: string }; url?: string; caBundle?: string }; name: string };
type WebhookConfiguration = KubernetesObject & { webhooks?: Webhook[] };
type Crd = KubernetesObject & {
  spec: { versions: unknown[]; conversion?: unknown };
};

/** Cluster API's CRDs with conversion pointed at the manager's webhook server. */
async function capiCrds(moduleDir: string, webhookBase: string, caBundle: string): Promise<Crd[]> {
  const dir = join(moduleDir, "core", "config", "crd", "bases");
  const out: Crd[] = [];
  for (const f of (await readdir(dir)).filter((n) => n.endsWith(".yaml")).sort()) {
    for (const o of parseYamlObjects(await readFile(join(dir, f), "utf8")) as Crd[]) {
      if (o.spec.versions.length > 1) {
        o.spec.conversion = {
          strategy: "Webhook",
          webhook: { conversionReviewVersions: ["v1"], clientConfig: { url: `${webhookBase}/convert`, caBundle } },
        };
      }
      out.push(o);
    }
  }
  return out;
}

/** Cluster API's admission webhook configurations, pointed at the manager by URL. */
async function capiWebhooks(moduleDir: string, webhookBase: string, caBundle: string): Promise<WebhookConfiguration[]> {
  const text = await readFile(join(moduleDir, "core", "config", "webhook", "manifests.yaml"), "utf8");
  return (parseYamlObjects(text) as WebhookConfiguration[]).map((cfg) => ({
    ...cfg,
    metadata: { name: `capi-testbed-${cfg.metadata?.name}` },
    webhooks: (cfg.webhooks ?? []).map((w) => ({
      ...w,
      clientConfig: { url: `${webhookBase}${w.clientConfig.service?.path ?? ""}`, caBundle },
    })),
  }));
}

/** Applies Cluster API's CRDs and webhooks, starts the manager and waits until it is ready. */
export async function startCapi(cp: ControlPlaneInfo, dir: string): Promise<CapiInfo> {
  await ensureBinaries(["capi-manager"]);
  const moduleDir = await goModuleDir("sigs.k8s.io/cluster-api", VERSIONS.capi);
  const certDir = join(dir, "capi-webhook");
  await mkdir(certDir, { recursive: true });
  await makeServingCert(
    certDir,
    "tls",
    { cert: cp.caFile, key: cp.caFile.replace(/\.crt$/, ".key") },
    {
      dns: ["localhost"],
      ips: ["127.0.0.1"],
    },
  );
  const webhookPort = await freePort();
  const healthPort = await freePort();
  const diagPort = await freePort();
  const webhookBase = `https://127.0.0.1:${webhookPort}`;
  const caBundle = Buffer.from(cp.caPEM).toString("base64");

  const c: Clients = clientsFor(cp.kubeconfig);
  const crds = await capiCrds(moduleDir, webhookBase, caBundle);
  await apply(c, crds);
  await waitEstablished(
    c,
    crds.map((x) => x.metadata?.name ?? ""),
  );
  await apply(c, await capiWebhooks(moduleDir, webhookBase, caBundle));

  const log = join(dir, "capi-manager.log");
  const child = startProcess(
    binaryPath("capi-manager"),
    [
      `--kubeconfig=${cp.kubeconfig}`,
      "--leader-elect=false",
      `--webhook-port=${webhookPort}`,
      `--webhook-cert-dir=${certDir}`,
      `--health-addr=127.0.0.1:${healthPort}`,
      `--diagnostics-address=127.0.0.1:${diagPort}`,
      "--insecure-diagnostics=true",
      "--feature-gates=ClusterTopology=true",
      "--skip-crd-migration-phases=StorageVersionMigration,CleanupManagedFields",
      // Tests see changes quickly; the defaults are tuned for big fleets.
      "--sync-period=1m",
      "--v=2",
    ],
    log,
  );
  const info: CapiInfo = {
    pid: child.pid ?? 0,
    webhookPort,
    healthPort,
    log,
    crdNames: crds.map((x) => x.metadata?.name ?? ""),
  };
  try {
    await waitFor(
      "Cluster API manager ready",
      async () => {
        if (child.exitCode !== null) throw new Fatal(`capi-manager exited ${child.exitCode} (see ${log})`);
        const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then((r) => r.ok);
        if (!ready) return false;
        // The webhook server answers (any HTTP status) once it serves TLS with our cert.
        return (await apiGet(cp, `${webhookBase}/convert`).catch(() => ({ status: 0 }))).status > 0;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
  } catch (e) {
    await stopPid(info.pid);
    throw e;
  }
  return info;
}

export async function stopCapi(info: Pick<CapiInfo, "pid">): Promise<void> {
  await stopPid(info.pid, 10_000);
}
