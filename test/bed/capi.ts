/**
 * The real Cluster API core manager, built from Go modules (versions.env), running against the
 * test bed's API server with its CRDs, conversion webhooks and admission webhooks registered, so
 * Clusters, Machines and MachineDeployments are converted, defaulted, validated and reconciled
 * as in a real management cluster.
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { makeServingCert } from "./certs.js";
import { apiGet, type ControlPlaneInfo } from "./controlplane.js";
import { apply, type Clients, clientsFor, parseYamlObjects, waitEstablished } from "./kube.js";
import { Fatal, freePort, startProcess, stopPid, waitFor } from "./util.js";
import { type Binary, binaryPath, ensureBinaries, goModuleDir, VERSIONS } from "./versions.js";

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

/** A provider of the cluster-api module: where its manifests are and how it is named here. */
interface ProviderLayout {
  binary: Binary;
  /** Under the module: the CRDs' folder and the webhook manifests' folder. */
  configDir: string;
  /** Prefix of its webhook configurations' names (unique per provider). */
  webhookPrefix: string;
  /** Log and cert folder names under the bed's directory. */
  name: string;
}

const CORE: ProviderLayout = {
  binary: "capi-manager",
  configDir: join("core", "config"),
  webhookPrefix: "capi-testbed",
  name: "capi",
};
const KUBEADM_BOOTSTRAP: ProviderLayout = {
  binary: "capi-kubeadm-bootstrap",
  configDir: join("bootstrap", "kubeadm", "config"),
  webhookPrefix: "capi-kubeadm-bootstrap-testbed",
  name: "capi-kubeadm-bootstrap",
};

/** A provider's CRDs with conversion pointed at its webhook server. */
async function capiCrds(
  moduleDir: string,
  layout: ProviderLayout,
  webhookBase: string,
  caBundle: string,
): Promise<Crd[]> {
  const dir = join(moduleDir, layout.configDir, "crd", "bases");
  // The contract labels (cluster.x-k8s.io/v1beta2: v1beta2, ...) kustomize adds: Cluster API finds
  // the version of a provider's kind it may use by them and refuses a reference without them.
  const kustomization = parseYaml(
    await readFile(join(moduleDir, layout.configDir, "crd", "kustomization.yaml"), "utf8"),
  ) as {
    labels?: { pairs?: Record<string, string> }[];
  };
  const labels = Object.assign({}, ...(kustomization.labels ?? []).map((l) => l.pairs ?? {})) as Record<string, string>;
  const out: Crd[] = [];
  for (const f of (await readdir(dir)).filter((n) => n.endsWith(".yaml")).sort()) {
    for (const o of parseYamlObjects(await readFile(join(dir, f), "utf8")) as Crd[]) {
      o.metadata = { ...o.metadata, labels: { ...o.metadata?.labels, ...labels } };
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

/** A provider's admission webhook configurations, pointed at it by URL. */
async function capiWebhooks(
  moduleDir: string,
  layout: ProviderLayout,
  webhookBase: string,
  caBundle: string,
): Promise<WebhookConfiguration[]> {
  const text = await readFile(join(moduleDir, layout.configDir, "webhook", "manifests.yaml"), "utf8");
  return (parseYamlObjects(text) as WebhookConfiguration[]).map((cfg) => ({
    ...cfg,
    metadata: { name: `${layout.webhookPrefix}-${cfg.metadata?.name}` },
    webhooks: (cfg.webhooks ?? []).map((w) => ({
      ...w,
      clientConfig: { url: `${webhookBase}${w.clientConfig.service?.path ?? ""}`, caBundle },
    })),
  }));
}

/** Applies Cluster API's CRDs and webhooks, starts the manager and waits until it is ready. */
export function startCapi(cp: ControlPlaneInfo, dir: string): Promise<CapiInfo> {
  return startProvider(cp, dir, CORE, [
    "--feature-gates=ClusterTopology=true",
    // Tests see changes quickly; the defaults are tuned for big fleets.
    "--sync-period=1m",
  ]);
}

/**
 * Cluster API's kubeadm bootstrap provider (CABPK), from the same module and version as the core
 * manager, with its CRDs (KubeadmConfig, KubeadmConfigTemplate) and webhooks: it writes the
 * bootstrap data Secrets of Machines whose bootstrap config is a KubeadmConfig.
 */
export function startKubeadmBootstrap(cp: ControlPlaneInfo, dir: string): Promise<CapiInfo> {
  return startProvider(cp, dir, KUBEADM_BOOTSTRAP, ["--sync-period=1m"]);
}

async function startProvider(
  cp: ControlPlaneInfo,
  dir: string,
  layout: ProviderLayout,
  extraArgs: string[],
): Promise<CapiInfo> {
  await ensureBinaries([layout.binary]);
  const moduleDir = await goModuleDir("sigs.k8s.io/cluster-api", VERSIONS.capi);
  const certDir = join(dir, `${layout.name}-webhook`);
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
  const crds = await capiCrds(moduleDir, layout, webhookBase, caBundle);
  await apply(c, crds);
  await waitEstablished(
    c,
    crds.map((x) => x.metadata?.name ?? ""),
  );
  await apply(c, await capiWebhooks(moduleDir, layout, webhookBase, caBundle));

  const log = join(dir, `${layout.binary}.log`);
  const child = startProcess(
    binaryPath(layout.binary),
    [
      `--kubeconfig=${cp.kubeconfig}`,
      "--leader-elect=false",
      `--webhook-port=${webhookPort}`,
      `--webhook-cert-dir=${certDir}`,
      `--health-addr=127.0.0.1:${healthPort}`,
      `--diagnostics-address=127.0.0.1:${diagPort}`,
      "--insecure-diagnostics=true",
      "--skip-crd-migration-phases=StorageVersionMigration,CleanupManagedFields",
      ...extraArgs,
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
      `${layout.binary} ready`,
      async () => {
        if (child.exitCode !== null) throw new Fatal(`${layout.binary} exited ${child.exitCode} (see ${log})`);
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
