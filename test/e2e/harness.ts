/**
 * End-to-end harness: the real controller as a child process (as it runs in a Pod), scoped to
 * the suite's namespace, plus builders for the Cluster API objects a user would create.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { RemoteAnnotations } from "@capi-remote/shared";
import { buildController } from "../../controller/scripts/build.js";
import { controllerKubeconfig } from "../bed/identity.js";
import type { TestBed } from "../bed/index.js";
import { REPO_ROOT } from "../bed/index.js";
import { apply } from "../bed/kube.js";
import { getMetrics } from "../bed/metrics.js";
import { freePort, scratchDir, stopPid, waitFor } from "../bed/util.js";

export const INFRA = "infrastructure.cluster.x-k8s.io";
// biome-ignore lint/suspicious/noExplicitAny: tests read deep into objects of many kinds
export type Any = Record<string, any>;

export class ControllerProcess {
  child?: ChildProcess;
  port = 0;
  metricsPort = 0;
  readonly logFile: string;
  constructor(
    private readonly bed: TestBed,
    private readonly namespace: string,
    name: string,
    private readonly extraArgs: string[] = [],
    /** "serviceaccount" (default): the shipped ServiceAccount and RBAC; "admin" for tools. */
    private readonly identity: "serviceaccount" | "admin" = "serviceaccount",
  ) {
    this.name = name;
    this.logFile = join(bed.dir, `controller-${name}.log`);
  }
  private readonly name: string;
  private kubeconfig?: string;
  /** A bundled controller (controller/scripts/build.ts) to run instead of the TypeScript source. */
  entry?: string;

  async start(): Promise<void> {
    this.port = await freePort();
    this.metricsPort = await freePort();
    this.kubeconfig ??=
      this.identity === "admin"
        ? this.bed.controlPlane.kubeconfig
        : await controllerKubeconfig(this.bed, `${this.namespace}-${this.name}`);
    const out = createWriteStream(this.logFile, { flags: "a" });
    this.child = spawn(
      process.execPath,
      [
        // Node flags for the controller only (e.g. --cpu-prof when profiling a benchmark).
        ...(process.env.CAPI_REMOTE_CONTROLLER_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
        ...(this.entry ? [this.entry] : ["--import", "tsx", join(REPO_ROOT, "controller/src/main.ts")]),
        `--kubeconfig=${this.kubeconfig}`,
        `--namespace=${this.namespace}`,
        `--health-addr=127.0.0.1:${this.port}`,
        `--metrics-addr=127.0.0.1:${this.metricsPort}`,
        "--leader-elect=false",
        "--log-level=debug",
        ...this.extraArgs,
      ],
      { stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT },
    );
    this.child.stdout?.pipe(out);
    this.child.stderr?.pipe(out);
    await waitFor("controller ready", async () => (await fetch(`http://127.0.0.1:${this.port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }

  /** SIGKILL, as a crashing node or an OOM kill would. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c?.pid) return;
    c.kill("SIGKILL");
    await waitFor("controller gone", () => c.exitCode !== null || c.signalCode !== null, { timeoutMs: 5000 });
  }

  async stop(): Promise<void> {
    await stopPid(this.child?.pid, 15_000);
  }

  /** /metrics, read as the bed's admin (allowed to get /metrics under --metrics-auth=kube). */
  async metricsText(): Promise<string> {
    const res = await getMetrics(this.metricsPort, { token: this.bed.controlPlane.token });
    if (res.status !== 200) throw new Error(`/metrics: HTTP ${res.status} ${res.text}`);
    return res.text;
  }

  /** The value of a Prometheus counter, summed over label sets matching `labels`. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await this.metricsText();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
    }
    return sum;
  }

  log(): Promise<string> {
    return readFile(this.logFile, "utf8");
  }
}

/** An error answer of the API server, with its Status message. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One raw request to the test bed's API server (for merge patches and status writes, which
 * client-node's typed calls do not make easy). Resolves with the parsed body.
 */
export async function rest(
  bed: TestBed,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Any> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(
      `${bed.controlPlane.server}${path}`,
      {
        method,
        ca: bed.controlPlane.caPEM,
        headers: { authorization: `Bearer ${bed.controlPlane.token}`, "content-type": contentType },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => {
          let parsed: Any = {};
          try {
            parsed = JSON.parse(text) as Any;
          } catch {}
          if ((res.statusCode ?? 0) < 300) resolve(parsed);
          else reject(new RestError(res.statusCode ?? 0, String(parsed.message ?? text)));
        });
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** API helpers bound to a namespace. */
export function objects(bed: TestBed, ns: string) {
  const c = bed.clients;
  const custom = c.custom;
  const infra = (plural: string) => ({ group: INFRA, version: "v1beta2", namespace: ns, plural });
  const capi = (plural: string) => ({ group: "cluster.x-k8s.io", version: "v1beta2", namespace: ns, plural });
  const path = (group: string, version: string, plural: string, name?: string, sub?: string) =>
    `/apis/${group}/${version}/namespaces/${ns}/${plural}${name ? `/${name}` : ""}${sub ? `/${sub}` : ""}`;
  return {
    ns,
    /** Merge-patches an infrastructure object (or its status). */
    patchInfra: (plural: string, name: string, body: Any, sub?: string) =>
      rest(bed, "PATCH", path(INFRA, "v1beta2", plural, name, sub), body, "application/merge-patch+json"),
    /** Merge-patches a Cluster API object. */
    patchCapi: (plural: string, name: string, body: Any) =>
      rest(bed, "PATCH", path("cluster.x-k8s.io", "v1beta2", plural, name), body, "application/merge-patch+json"),
    /** Replaces an infrastructure object's status with `{}` (as `clusterctl move` leaves it). */
    wipeStatus: async (plural: string, name: string) => {
      const x = await rest(bed, "GET", path(INFRA, "v1beta2", plural, name));
      await rest(bed, "PUT", path(INFRA, "v1beta2", plural, name, "status"), { ...x, status: {} });
    },
    list: async (plural: string, group = INFRA) =>
      ((await rest(bed, "GET", path(group, group === INFRA ? "v1beta2" : "v1beta2", plural))).items ?? []) as Any[],
    getInfra: (plural: string, name: string) => rest(bed, "GET", path(INFRA, "v1beta2", plural, name)),
    apply: (objs: Any[]) =>
      apply(
        c,
        objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })),
      ),
    rm: async (name: string) => (await custom.getNamespacedCustomObject({ ...infra("remotemachines"), name })) as Any,
    rmOrUndefined: async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...infra("remotemachines"), name }).catch(() => undefined)) as
        | Any
        | undefined,
    machine: async (name: string) => (await custom.getNamespacedCustomObject({ ...capi("machines"), name })) as Any,
    machineOrUndefined: async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...capi("machines"), name }).catch(() => undefined)) as Any | undefined,
    deleteMachine: (name: string) => custom.deleteNamespacedCustomObject({ ...capi("machines"), name }),
    patchCluster: (name: string, body: Any) =>
      bed.clients.objects.patch(
        { apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Cluster", metadata: { name, namespace: ns }, ...body },
        undefined,
        undefined,
        undefined,
        undefined,
        "application/merge-patch+json",
      ),
    events: async (name: string) => {
      const list = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
      return list.items;
    },
    allEvents: async () => (await c.core.listNamespacedEvent({ namespace: ns })).items,
    condition: (rm: Any, type: string) =>
      (rm.status?.conditions ?? []).find((x: Any) => x.type === type) as Any | undefined,
    /** Waits until the RemoteMachine reports provisioned; the timeout names its conditions. */
    waitProvisioned: (name: string, timeoutMs = 60_000) =>
      waitFor(
        `${name} provisioned`,
        async () => {
          const rm = (await custom.getNamespacedCustomObject({ ...infra("remotemachines"), name })) as Any;
          if (rm.status?.initialization?.provisioned === true) return rm;
          throw new Error(
            `conditions now ${JSON.stringify(rm.status?.conditions?.map((c: Any) => [c.type, c.reason, c.message]))}`,
          );
        },
        { timeoutMs, intervalMs: 200 },
      ),
  };
}

/** A Cluster with a RemoteCluster, whose `<name>-kubeconfig` points back at the test bed. */
export async function makeCluster(
  bed: TestBed,
  ns: string,
  name: string,
  extra: { paused?: boolean } = {},
): Promise<void> {
  const kubeconfig = await readFile(bed.controlPlane.kubeconfig, "utf8");
  await objects(bed, ns).apply([
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${name}-kubeconfig`, labels: { "cluster.x-k8s.io/cluster-name": name } },
      type: "cluster.x-k8s.io/secret",
      stringData: { value: kubeconfig },
    },
    {
      apiVersion: `${INFRA}/v1beta2`,
      kind: "RemoteCluster",
      metadata: { name },
      spec: { controlPlaneEndpoint: { host: "198.18.0.1", port: bed.controlPlane.port } },
    },
    {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "Cluster",
      metadata: { name },
      spec: {
        ...(extra.paused ? { paused: true } : {}),
        infrastructureRef: { apiGroup: INFRA, kind: "RemoteCluster", name },
      },
    },
  ]);
}

/**
 * Bootstrap data that does what a real one does on a test host: writes files, counts its own run
 * (one line in /var/log/capi-remote-test-runs per run), registers the machine's Node with the
 * API server (standing in for a kubelet) and creates Cluster API's sentinel.
 */
/** A Node as a test host's stand-in kubelet registers it: Ready, no pressure. */
export function testNode(name: string) {
  const condition = (type: string, status: string, reason: string) => ({ type, status, reason, message: "test host" });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name },
    status: {
      conditions: [
        condition("Ready", "True", "KubeletReady"),
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID"),
      ],
    },
  };
}

export function testBootstrap(
  bed: TestBed,
  opts: { extra?: string; registerNode?: boolean; sleep?: number } = {},
): string {
  const ca = bed.controlPlane.caPEM
    .trim()
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
  // A machine reused from a pool still has its Node from last time (Cluster API keeps Nodes of
  // clusters without control plane machines): a kubelet would re-register, so replace it. The
  // Node is registered Ready, as a kubelet reports it, so Machines become Available and
  // MachineDeployment rollouts proceed. Like a kubelet, it retries while the API server is away.
  // One curl for both requests (`--next`; the last one's outcome is its exit code) and the
  // hostname read by the shell: many test hosts share this machine's two cores, and a curl start
  // (TLS libraries and all) costs tens of milliseconds of CPU that a kubelet on a machine of its
  // own would not take from the others.
  const auth = `--cacert /etc/capi-remote-test/ca.crt -H "Authorization: Bearer ${bed.controlPlane.token}"`;
  const register =
    opts.registerNode === false
      ? ""
      : `  - >-
    read -r h < /proc/sys/kernel/hostname;
    curl -sS --retry 60 --retry-delay 1 --retry-all-errors -o /dev/null ${auth}
    -X DELETE ${bed.controlPlane.hostServer}/api/v1/nodes/$h
    --next -sS --fail --retry 60 --retry-delay 1 --retry-all-errors ${auth}
    -H 'Content-Type: application/json' -X POST ${bed.controlPlane.hostServer}/api/v1/nodes
    -d "${JSON.stringify(testNode("NODE-NAME")).replaceAll('"', '\\"').replace("NODE-NAME", "$h")}"
`;
  return `#cloud-config
write_files:
  - path: /etc/capi-remote-test/ca.crt
    permissions: "0644"
    content: |
${ca}
runcmd:
  - echo "run $(date +%s%N)" >> /var/log/capi-remote-test-runs
${opts.sleep ? `  - sleep ${opts.sleep}\n` : ""}${opts.extra ?? ""}${register}  - mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete
`;
}

/** A bootstrap data Secret as a bootstrap provider writes it, for Machines of `cluster`. */
export const bootstrapSecret = (name: string, cluster: string, value: string) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, labels: { "cluster.x-k8s.io/cluster-name": cluster } },
  type: "cluster.x-k8s.io/secret",
  stringData: { value },
});

/** A RemoteMachineTemplate `name` whose machines are taken from `pool`. */
export const poolTemplate = (name: string, pool = name) => ({
  apiVersion: `${INFRA}/v1beta2`,
  kind: "RemoteMachineTemplate",
  metadata: { name },
  spec: { template: { spec: { pool } } },
});

/** A bootstrap provider's config for a Machine (its data then comes from that provider) and the Machine's version. */
export interface BootstrapConfigRef {
  configRef: { apiGroup: string; kind: string; name: string };
  version: string;
}

/** A RemoteMachine, its bootstrap Secret (or a bootstrap provider's config) and its Machine. */
export async function makeMachine(
  bed: TestBed,
  ns: string,
  name: string,
  cluster: string,
  rmSpec: Any,
  bootstrap: string | BootstrapConfigRef,
  opts: { format?: string; annotations?: Record<string, string>; controlPlane?: boolean } = {},
): Promise<void> {
  const secret = (value: string) => {
    const s = bootstrapSecret(`${name}-bootstrap`, cluster, value);
    return { ...s, stringData: { ...s.stringData, ...(opts.format ? { format: opts.format } : {}) } };
  };
  await objects(bed, ns).apply([
    ...(typeof bootstrap === "string" ? [secret(bootstrap)] : []),
    {
      apiVersion: `${INFRA}/v1beta2`,
      kind: "RemoteMachine",
      metadata: { name, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
      spec: rmSpec,
    },
    {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "Machine",
      metadata: { name, ...(opts.controlPlane ? { labels: { "cluster.x-k8s.io/control-plane": "" } } : {}) },
      spec: {
        clusterName: cluster,
        ...(typeof bootstrap === "string"
          ? { bootstrap: { dataSecretName: `${name}-bootstrap` } }
          : { version: bootstrap.version, bootstrap: { configRef: bootstrap.configRef } }),
        infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
      },
    },
  ]);
}

/** The controller as the image runs it: the esbuild bundle (controller/scripts/build.ts), built into a scratch folder. */
export const bundledController = (prefix: string) => buildController(join(scratchDir(prefix), "controller.mjs"));

/**
 * Ms from `make()` (which creates RemoteMachine `name` in `ns`) until the machine records its
 * bootstrap's start (the run is then started on the machine); undefined if not within `timeoutMs`.
 */
export async function timeToBootstrapStart(
  bed: TestBed,
  ns: string,
  name: string,
  make: () => Promise<void>,
  timeoutMs: number,
): Promise<number | undefined> {
  const t0 = Date.now();
  await make();
  try {
    await waitFor(
      `${name}: bootstrap started`,
      async () =>
        !!((await objects(bed, ns).rm(name)) as Any).metadata?.annotations?.[RemoteAnnotations.BootstrapStarted],
      { timeoutMs, intervalMs: 50 },
    );
    return Date.now() - t0;
  } catch {
    return undefined;
  }
}
