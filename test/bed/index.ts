/**
 * The test bed: a real control plane, the real Cluster API manager and capi-remote's CRDs.
 *
 * The test command starts one bed and hands it to every test process through the environment
 * variable CAPI_REMOTE_TESTBED (path of a JSON file); a test file run on its own starts its own.
 * Tests isolate themselves by namespace.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseProviderID } from "@capi-remote/shared";
import { type CapiInfo, startCapi, stopCapi } from "./capi.js";
import { type ControlPlaneInfo, startControlPlane, stopControlPlane } from "./controlplane.js";
import { onHostDestroyed, type TestHost } from "./hosts.js";
import { apply, type Clients, clientsFor, parseYamlObjects, waitEstablished } from "./kube.js";
import { ensureKubeadmBinaries, type KubeadmClusterInfo, startKubeadmCluster, stopKubeadmCluster } from "./kubeadm.js";
import { alive } from "./util.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ENV_VAR = "CAPI_REMOTE_TESTBED";
/** Every bed records itself here, so a later run can stop what an aborted one left running. */
const REGISTRY = join(tmpdir(), "capi-remote-testbed", "beds");

export interface TestBedInfo {
  dir: string;
  controlPlane: ControlPlaneInfo;
  capi?: CapiInfo;
  /** The kubeadm bed's cluster side (kube-controller-manager, CABPK), when real nodes were asked for. */
  kubeadm?: KubeadmClusterInfo;
  /** PID of the process that owns (and will stop) the bed. */
  owner: number;
}

export interface TestBed extends TestBedInfo {
  clients: Clients;
  /** True when this process started the bed (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

/** The objects in `crds/`: the CRDs and the admission policy. */
export async function ourCrds() {
  const dir = join(REPO_ROOT, "crds");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  const objs = [];
  for (const f of files.sort()) objs.push(...parseYamlObjects(await readFile(join(dir, f), "utf8")));
  return objs;
}

/** Applies capi-remote's CRDs and waits until they are Established. */
export async function installCrds(c: Clients): Promise<string[]> {
  const crds = await ourCrds();
  await apply(c, crds);
  const names = crds.filter((x) => x.kind === "CustomResourceDefinition").map((x) => x.metadata?.name ?? "");
  await waitEstablished(c, names);
  return names;
}

/** Stops beds whose owner process died (an aborted run). */
export async function reapStaleBeds(): Promise<number> {
  let n = 0;
  for (const f of await readdir(REGISTRY).catch(() => [] as string[])) {
    const path = join(REGISTRY, f);
    const info = JSON.parse(await readFile(path, "utf8").catch(() => "{}")) as Partial<TestBedInfo>;
    if (info.owner && alive(info.owner)) continue;
    if (info.kubeadm) await stopKubeadmCluster(info.kubeadm);
    if (info.capi) await stopCapi(info.capi);
    if (info.controlPlane) await stopControlPlane(info.controlPlane);
    if (info.dir) await rm(info.dir, { recursive: true, force: true });
    await rm(path, { force: true });
    n++;
  }
  return n;
}

/**
 * Starts a bed: control plane, our CRDs, and (unless `capi: false`) the Cluster API manager.
 * `kubeadm: true` makes it a bed real kubeadm workers can join (kubeadm.ts): the API server with
 * bootstrap-token auth and the Node authorizer, kube-controller-manager and the kubeadm
 * bootstrap provider. The default bed has none of these, so it starts as fast as before.
 */
export async function startTestBed(opts: { capi?: boolean; kubeadm?: boolean } = {}): Promise<TestBed> {
  await mkdir(REGISTRY, { recursive: true });
  if (opts.kubeadm) await ensureKubeadmBinaries();
  const dir = await mkdtemp(join(tmpdir(), "capi-remote-bed-"));
  const controlPlane = await startControlPlane(dir, { realNodes: opts.kubeadm === true });
  const info: TestBedInfo = { dir, controlPlane, owner: process.pid };
  const registryFile = join(REGISTRY, `${process.pid}-${Date.now()}.json`);
  await writeFile(registryFile, JSON.stringify(info));
  const clients = clientsFor(controlPlane.kubeconfig);
  const stop = async () => {
    if (info.kubeadm) await stopKubeadmCluster(info.kubeadm);
    if (info.capi) await stopCapi(info.capi);
    await stopControlPlane(controlPlane);
    await rm(registryFile, { force: true });
    if (process.env.CAPI_REMOTE_KEEP_BED) await keepLogsOnly(dir);
    else await rm(dir, { recursive: true, force: true });
  };
  try {
    await installCrds(clients);
    if (opts.capi !== false) {
      info.capi = await startCapi(controlPlane, dir);
      await writeFile(registryFile, JSON.stringify(info));
    }
    if (opts.kubeadm) {
      info.kubeadm = await startKubeadmCluster(controlPlane, clients, dir);
      await writeFile(registryFile, JSON.stringify(info));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  await writeFile(join(dir, "bed.json"), JSON.stringify(info));
  return { ...info, clients, owned: true, stop };
}

/**
 * CAPI_REMOTE_KEEP_BED=1 keeps a stopped bed's logs for a look, its path printed; its keys,
 * tokens and etcd data (every Secret the tests made) go.
 */
async function keepLogsOnly(dir: string) {
  for (const f of await readdir(dir)) if (!f.endsWith(".log")) await rm(join(dir, f), { recursive: true, force: true });
  console.error(`# kept the test bed's logs in ${dir}`);
}

/** The bed named by CAPI_REMOTE_TESTBED, if any. */
export async function attachTestBed(): Promise<TestBed | undefined> {
  const path = process.env[ENV_VAR];
  if (!path) return undefined;
  const info = JSON.parse(await readFile(path, "utf8")) as TestBedInfo;
  return { ...info, clients: clientsFor(info.controlPlane.kubeconfig), owned: false, stop: async () => {} };
}

/** The shared bed when the test command started one; else a new one this process owns. */
export async function getTestBed(opts: { capi?: boolean } = {}): Promise<TestBed> {
  const bed = (await attachTestBed()) ?? (await startTestBed(opts));
  const forget = onHostDestroyed((host) => deleteNodesOf(bed.clients, host));
  const stop = bed.stop;
  return {
    ...bed,
    stop: async () => {
      forget();
      await stop();
    },
  };
}

/**
 * Deletes the Nodes that carry a provider ID of a destroyed test host's address: the address goes
 * to the next host made, and a stale Node with the same provider ID would give two Nodes one
 * machine. (Not by name: test files running at the same time may name hosts alike.) Best effort:
 * a bed already stopped has none.
 */
async function deleteNodesOf(clients: Clients, host: TestHost): Promise<void> {
  const list = await clients.core.listNode().catch(() => undefined);
  const mine = (list?.items ?? []).filter(
    (n) => n.spec?.providerID !== undefined && parseProviderID(n.spec.providerID)?.address === host.address,
  );
  await Promise.all(mine.map((n) => clients.core.deleteNode({ name: n.metadata?.name ?? "" }).catch(() => undefined)));
}

/** True when this process may create network namespaces and mounts (test hosts need it). */
export function canMakeHosts(): boolean {
  return process.getuid?.() === 0;
}
