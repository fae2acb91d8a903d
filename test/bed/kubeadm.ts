/**
 * Real nodes for the test bed: what a kubeadm worker needs from its cluster and from its machine.
 *
 * Cluster side: kube-controller-manager (bootstrap-token signing and cleanup, kubelet CSR approval
 * and signing, service accounts), the objects `kubeadm init` would have created (cluster-info,
 * the kubeadm and kubelet config ConfigMaps, the bootstrap RBAC) and Cluster API's kubeadm
 * bootstrap provider (capi.ts). The API server runs with bootstrap-token auth and the Node
 * authorizer (controlplane.ts, `realNodes`).
 *
 * Host side: a test host (hosts.ts) becomes a machine kubeadm can join: containerd, runc and the
 * CNI plugins from Debian, kubeadm and kubelet built at the bed's Kubernetes version, cgroup v1
 * hierarchies under a cgroup root of its own, a locally built pause image, and an init-system
 * stand-in (a `systemctl` that drives a kubelet supervisor, as systemd's kubelet.service with
 * Restart=always and kubeadm's drop-in do on kind's node image). None of this is in the bootstrap
 * data: the bootstrap data is CABPK's, run unchanged by capi-remote.
 *
 * Nothing here changes this machine's kernel settings: the machine-wide sysctls the kubelet
 * insists on writing are bind-mounted copies inside the host's mount namespace, and ip_forward is
 * per network namespace. Nothing reaches a registry or resolver: the pause image is imported
 * from a local archive and the API server dials kubelets by InternalIP.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { type CapiInfo, startKubeadmBootstrap, stopCapi } from "./capi.js";
import { apiGet, type ControlPlaneInfo } from "./controlplane.js";
import { hostExec, type TestHost } from "./hosts.js";
import { apply, type Clients } from "./kube.js";
import { execFileAsync, Fatal, freePort, startProcess, stopPid, waitFor } from "./util.js";
import { binaryPath, ensureBinaries, KUBEADM_BINARIES, VERSIONS } from "./versions.js";

/** The kubeadm bed's cluster-side processes. */
export interface KubeadmClusterInfo {
  controllerManagerPid: number;
  controllerManagerLog: string;
  bootstrap: CapiInfo;
}

/** Builds (once) what the kubeadm bed needs on top of the default bed. */
export function ensureKubeadmBinaries(): Promise<void> {
  return ensureBinaries(KUBEADM_BINARIES);
}

/** The kube-controller-manager controllers a kubeadm join and a kubelet's TLS bootstrap rely on. */
const KCM_CONTROLLERS = [
  "bootstrapsigner",
  "tokencleaner",
  "csrapproving",
  "csrsigning",
  "csrcleaner",
  "serviceaccount",
  "serviceaccount-token",
  "root-ca-cert-publisher",
];

/** Starts kube-controller-manager against the bed; resolves when its /healthz answers. */
export async function startControllerManager(cp: ControlPlaneInfo): Promise<{ pid: number; log: string }> {
  const pki = join(cp.dir, "pki");
  const port = await freePort();
  const log = join(cp.dir, "kube-controller-manager.log");
  const child = startProcess(
    binaryPath("kube-controller-manager"),
    [
      `--kubeconfig=${cp.kubeconfig}`,
      `--authentication-kubeconfig=${cp.kubeconfig}`,
      `--authorization-kubeconfig=${cp.kubeconfig}`,
      "--authorization-always-allow-paths=/healthz,/readyz,/livez",
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      "--leader-elect=false",
      `--controllers=${KCM_CONTROLLERS.join(",")}`,
      `--cluster-signing-cert-file=${join(pki, "ca.crt")}`,
      `--cluster-signing-key-file=${join(pki, "ca.key")}`,
      `--root-ca-file=${join(pki, "ca.crt")}`,
      `--service-account-private-key-file=${join(pki, "sa.key")}`,
      "--use-service-account-credentials=false",
      "--v=1",
    ],
    log,
  );
  const pid = child.pid ?? 0;
  try {
    await waitFor(
      "kube-controller-manager healthy",
      async () => {
        if (child.exitCode !== null) throw new Fatal(`kube-controller-manager exited ${child.exitCode} (see ${log})`);
        const status = await new Promise<number>((resolve) => {
          // Its /healthz is served with a self-signed cert on loopback.
          const req = httpsRequest(
            `https://127.0.0.1:${port}/healthz`,
            { rejectUnauthorized: false, timeout: 2000 },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on("timeout", () => req.destroy());
          req.on("error", () => resolve(0));
          req.end();
        });
        return status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  } catch (e) {
    await stopPid(pid);
    throw e;
  }
  return { pid, log };
}

/** The cluster-wide KubeletConfiguration kubeadm join downloads (kube-system/kubelet-config). */
export function kubeletConfigYaml(): string {
  return [
    "apiVersion: kubelet.config.k8s.io/v1beta1",
    "kind: KubeletConfiguration",
    // No systemd on the hosts (and cgroup v1 on this machine, which kubelet 1.35 refuses unless told).
    "cgroupDriver: cgroupfs",
    "failCgroupV1: false",
    "failSwapOn: false",
    "authentication:",
    "  anonymous: {enabled: false}",
    "  webhook: {enabled: true}",
    "  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}",
    "authorization: {mode: Webhook}",
    "readOnlyPort: 0",
    "healthzBindAddress: 127.0.0.1",
    "healthzPort: 10248",
    "staticPodPath: /etc/kubernetes/manifests",
    "clusterDNS: [10.0.0.10]",
    "clusterDomain: cluster.local",
    "rotateCertificates: true",
    // Kept small: hosts share one machine; and never a log rotation that needs a runtime feature
    // containerd 1.6 lacks.
    "imageGCHighThresholdPercent: 100",
    "evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}",
    "",
  ].join("\n");
}

/**
 * What `kubeadm init` leaves in a cluster for workers to join it: the signed cluster-info
 * ConfigMap's source, the kubeadm and kubelet configuration, and the bootstrap RBAC.
 */
export function kubeadmClusterObjects(cp: ControlPlaneInfo): KubernetesObject[] {
  const endpoint = `${cp.hostServer.replace(/^https:\/\//, "")}`;
  const bootstrappers = "system:bootstrappers:kubeadm:default-node-token";
  const crb = (name: string, role: string, group: string) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
  });
  const getConfigMap = (ns: string, name: string, cm: string, subjects: { kind: string; name: string }[]) => [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: ns },
      rules: [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [cm], verbs: ["get"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: subjects.map((s) => ({ apiGroup: "rbac.authorization.k8s.io", ...s })),
    },
  ];
  const clusterInfo = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: ''",
    "  cluster:",
    `    server: ${cp.hostServer}`,
    `    certificate-authority-data: ${Buffer.from(cp.caPEM).toString("base64")}`,
    "contexts: []",
    "users: []",
    "",
  ].join("\n");
  const clusterConfiguration = [
    "apiVersion: kubeadm.k8s.io/v1beta4",
    "kind: ClusterConfiguration",
    `kubernetesVersion: ${VERSIONS.kubernetes}`,
    `controlPlaneEndpoint: ${endpoint}`,
    "certificatesDir: /etc/kubernetes/pki",
    "clusterName: testbed",
    "networking: {dnsDomain: cluster.local, serviceSubnet: 10.0.0.0/24, podSubnet: 10.244.0.0/16}",
    "",
  ].join("\n");
  return [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cluster-info", namespace: "kube-public" },
      data: { kubeconfig: clusterInfo },
    } as KubernetesObject,
    ...getConfigMap("kube-public", "kubeadm:bootstrap-signer-clusterinfo", "cluster-info", [
      { kind: "User", name: "system:anonymous" },
    ]),
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "kubeadm-config", namespace: "kube-system" },
      data: { ClusterConfiguration: clusterConfiguration },
    } as KubernetesObject,
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "kubelet-config", namespace: "kube-system" },
      data: { kubelet: kubeletConfigYaml() },
    } as KubernetesObject,
    ...getConfigMap("kube-system", "kubeadm:nodes-kubeadm-config", "kubeadm-config", [
      { kind: "Group", name: bootstrappers },
      { kind: "Group", name: "system:nodes" },
    ]),
    ...getConfigMap("kube-system", "kubeadm:kubelet-config", "kubelet-config", [
      { kind: "Group", name: bootstrappers },
      { kind: "Group", name: "system:nodes" },
    ]),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "kubeadm:get-nodes" },
      rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }],
    } as KubernetesObject,
    crb("kubeadm:get-nodes", "kubeadm:get-nodes", bootstrappers),
    crb("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", bootstrappers),
    crb(
      "kubeadm:node-autoapprove-bootstrap",
      "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
      bootstrappers,
    ),
    crb(
      "kubeadm:node-autoapprove-certificate-rotation",
      "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
      "system:nodes",
    ),
  ] as KubernetesObject[];
}

/**
 * Turns a started bed into one real kubeadm workers can join: kube-controller-manager, the
 * objects `kubeadm init` would create, and CABPK with its CRDs and webhooks.
 */
export async function startKubeadmCluster(
  cp: ControlPlaneInfo,
  clients: Clients,
  dir: string,
): Promise<KubeadmClusterInfo> {
  await ensureKubeadmBinaries();
  await apply(clients, kubeadmClusterObjects(cp));
  const kcm = await startControllerManager(cp);
  try {
    const bootstrap = await startKubeadmBootstrap(cp, dir);
    return { controllerManagerPid: kcm.pid, controllerManagerLog: kcm.log, bootstrap };
  } catch (e) {
    await stopPid(kcm.pid);
    throw e;
  }
}

export async function stopKubeadmCluster(info: Partial<KubeadmClusterInfo>): Promise<void> {
  if (info.bootstrap) await stopCapi(info.bootstrap);
  await stopPid(info.controllerManagerPid);
}

/** The Secret `<cluster>-ca` CABPK reads the CA from (for the join's caCertHashes). */
export function clusterCaSecret(cp: ControlPlaneInfo, cluster: string, namespace?: string): KubernetesObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: `${cluster}-ca`,
      ...(namespace ? { namespace } : {}),
      labels: { "cluster.x-k8s.io/cluster-name": cluster },
    },
    type: "cluster.x-k8s.io/secret",
    // CABPK insists on the key too (as Cluster API's own <cluster>-ca Secrets hold it); it is the
    // bed's throwaway CA.
    data: {
      "tls.crt": Buffer.from(cp.caPEM).toString("base64"),
      "tls.key": readFileSync(cp.caFile.replace(/\.crt$/, ".key")).toString("base64"),
    },
  } as KubernetesObject;
}

/**
 * kubeadm's preflight checks that fail on the test hosts, named one by one so a check that starts
 * failing for any other reason still stops the join. Measured with `kubeadm join phase preflight`
 * on a prepared host (docs/real-nodes.md): only SystemVerification is fatal, because this machine
 * runs cgroup v1, which kubeadm 1.35 refuses unless the check is skipped (the kubelet side is
 * `failCgroupV1: false` in kubeletConfigYaml). Swap and Service-Kubelet only warn.
 */
export const HOST_PREFLIGHT_ERRORS_IGNORED = ["SystemVerification"] as const;

/**
 * The `nodeRegistration` a KubeadmConfig(Template) for the bed's hosts says, as a user writes it
 * for such machines: the node named after the host (the jinja expression capi-remote renders),
 * containerd's socket, and the preflight checks the hosts fail.
 */
export const hostNodeRegistration = () => ({
  name: "{{ ds.meta_data.local_hostname }}",
  criSocket: "unix:///run/containerd/containerd.sock",
  ignorePreflightErrors: [...HOST_PREFLIGHT_ERRORS_IGNORED],
});

// ---------------------------------------------------------------------------------------------
// Hosts

/** The cgroup v1 hierarchies of this machine (folder names under /sys/fs/cgroup). */
async function cgroupHierarchies(): Promise<string[]> {
  const names = await readdir("/sys/fs/cgroup", { withFileTypes: true }).catch(() => []);
  return names.filter((d) => d.isDirectory() && d.name !== "unified").map((d) => d.name);
}

/** The cgroup root a host's kubelet puts its pods under (machine-wide: no cgroup namespace here). */
export const cgroupRootOf = (host: TestHost) => `crk-${host.slot}`;

/** containerd's configuration on a host (the Debian default has no CRI settings). */
function containerdConfig(): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    # The machine's bounding set lacks CAP_SYS_RESOURCE: nothing may lower oom_score_adj, and
    # runc fails every sandbox the CRI asks for -998 unless containerd clamps it.
    restrict_oom_score_adj = true
    sandbox_image = "${VERSIONS.pauseImage}"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      # /var/lib/containerd is a tmpfs (overlay-on-overlay is refused by the kernel).
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
`;
}

/** One bridge network per host (pods reach nothing outside their host; no CNI plugin daemon). */
function cniConfig(host: TestHost): string {
  return JSON.stringify({
    cniVersion: "0.4.0",
    name: "bed",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet: `10.244.${host.slot % 250}.0/24` }]] },
      },
      { type: "portmap", capabilities: { portMappings: true } },
      { type: "loopback" },
    ],
  });
}

/**
 * The host's `systemctl`: kubeadm drives the kubelet through it (start, restart and stop on join
 * and reset; is-active and status to look). Every unit but the kubelet is a no-op.
 */
const SYSTEMCTL = `#!/bin/sh
# capi-remote test bed: the init-system stand-in kubeadm talks to (there is no systemd here).
S=/run/bed-init
cmd=""; unit=""
for a in "$@"; do
  case $a in
    -*) ;;
    kubelet|kubelet.service) unit=kubelet ;;
    *) [ -z "$cmd" ] && cmd=$a ;;
  esac
done
want() { echo "$1" > $S/kubelet.want; }
stop_now() { [ -f $S/kubelet.pid ] && kill "$(cat $S/kubelet.pid)" 2>/dev/null; return 0; }
active() { [ "$(cat $S/kubelet.want 2>/dev/null)" = run ]; }
case $cmd in
  start|restart|try-restart|reload-or-restart)
    [ "$unit" = kubelet ] || exit 0; want run; [ "$cmd" = start ] || stop_now; exit 0 ;;
  stop) [ "$unit" = kubelet ] || exit 0; want stop; stop_now; exit 0 ;;
  is-active)
    if [ "$unit" = kubelet ] && active; then echo active; exit 0; fi; echo inactive; exit 3 ;;
  is-enabled) echo enabled; exit 0 ;;
  status)
    if [ "$unit" = kubelet ]; then
      echo "kubelet.service - kubelet (capi-remote test bed)"
      echo "   Loaded: loaded (/run/bed-init/kubelet-supervisor)"
      if active; then echo "   Active: active (running)"; exit 0; fi
      echo "   Active: inactive (dead)"; exit 3
    fi
    echo "   Loaded: not-found"; exit 4 ;;
  *) exit 0 ;;
esac
`;

/**
 * The kubelet's supervisor (systemd's Restart=always plus kubeadm's 10-kubeadm.conf drop-in):
 * starts the kubelet while it is wanted, with the flags kubeadm writes, and restarts it when it
 * exits (it fails until `kubeadm join` has written its configuration).
 */
function supervisor(host: TestHost): string {
  // Per-host flags (what a machine's own unit drop-in would say): its cgroup root and address.
  const hostFlags = `--cgroup-root=/${cgroupRootOf(host)} --node-ip=${host.address}`;
  return `#!/bin/sh
S=/run/bed-init
echo $$ > $S/supervisor.pid
while :; do
  if [ "$(cat $S/kubelet.want 2>/dev/null)" = run ]; then
    KUBELET_KUBEADM_ARGS=""; KUBELET_EXTRA_ARGS=""
    [ -f /var/lib/kubelet/kubeadm-flags.env ] && . /var/lib/kubelet/kubeadm-flags.env
    [ -f /etc/default/kubelet ] && . /etc/default/kubelet
    /usr/local/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\
      --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \\
      ${hostFlags} $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS >> /var/log/kubelet.log 2>&1 &
    echo $! > $S/kubelet.pid
    wait $!
    rm -f $S/kubelet.pid
  fi
  sleep 1
done
`;
}

/** Machine-wide sysctls the kubelet writes at start (they are not namespaced). */
const KUBELET_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];

/** Where the host sees a cached binary: the cache is under /root (an overlay's lower layer). */
async function linkBinary(host: TestHost, src: string, dst: string): Promise<void> {
  const visible = await hostExec(host, `test -x '${src}' && echo yes || true`);
  if (visible.trim() === "yes") {
    await hostExec(host, `mkdir -p "$(dirname '${dst}')" && ln -sf '${src}' '${dst}'`);
  } else {
    await hostExec(host, `cat > '${dst}' && chmod 0755 '${dst}'`, await readFile(src));
  }
}

/**
 * Makes a test host a machine kubeadm can join: cgroups, containerd with the pause image, CNI,
 * kubeadm/kubelet/crictl, the sysctl copies and the init-system stand-in with its kubelet loop.
 * Resolves once containerd answers and the image is loaded. Teardown is destroyHost's (the
 * cgroup root is recorded in the host's slot state, see hosts.ts).
 */
export async function prepareKubeadmHost(host: TestHost): Promise<void> {
  const root = cgroupRootOf(host);
  const hierarchies = await cgroupHierarchies();
  // On the machine side: the host's cgroup root in every hierarchy (cpuset needs cpus and mems
  // before anything can join it).
  for (const h of hierarchies) {
    const dir = join("/sys/fs/cgroup", h, root);
    await hostExecOnMachine(`mkdir -p '${dir}'`);
    if (h.split(",").includes("cpuset")) {
      const parent = join("/sys/fs/cgroup", h);
      await writeFile(join(dir, "cpuset.cpus"), await readFile(join(parent, "cpuset.cpus"), "utf8"));
      await writeFile(join(dir, "cpuset.mems"), await readFile(join(parent, "cpuset.mems"), "utf8"));
    }
  }
  const mounts = hierarchies.map((h) => {
    const opts = h === "systemd" ? "none,name=systemd" : h;
    return `mkdir -p /sys/fs/cgroup/${h} && mount -t cgroup -o ${opts} cgroup /sys/fs/cgroup/${h}`;
  });
  const sysctls = KUBELET_SYSCTLS.map(
    (f, i) => `cat /proc/sys/${f} > /run/bed-init/sysctl-${i} && mount --bind /run/bed-init/sysctl-${i} /proc/sys/${f}`,
  );
  await hostExec(
    host,
    [
      "set -e",
      "mkdir -p /run/bed-init",
      // `ip netns exec` gave the host a fresh sysfs without cgroups.
      "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup",
      ...mounts,
      ...sysctls,
      // Per network namespace: the host's own forwarding, as kubeadm's preflight expects.
      "echo 1 > /proc/sys/net/ipv4/ip_forward",
      "mkdir -p /var/lib/containerd /etc/containerd /etc/cni/net.d /var/log /usr/local/bin /etc/kubernetes/manifests",
      "mount -t tmpfs -o mode=0711 tmpfs /var/lib/containerd",
    ].join("\n"),
  );
  await hostExec(host, "cat > /etc/containerd/config.toml", containerdConfig());
  await hostExec(host, "cat > /etc/cni/net.d/10-bed.conflist", cniConfig(host));
  await hostExec(host, "cat > /etc/crictl.yaml", "runtime-endpoint: unix:///run/containerd/containerd.sock\n");
  await hostExec(host, "cat > /run/bed-init/systemctl && chmod 0755 /run/bed-init/systemctl", SYSTEMCTL);
  await hostExec(
    host,
    "cat > /run/bed-init/kubelet-supervisor && chmod 0755 /run/bed-init/kubelet-supervisor",
    supervisor(host),
  );
  // The machine's /usr/bin/systemctl (if any) is hidden by the stand-in, only in this host.
  await hostExec(
    host,
    "touch /usr/local/bin/systemctl && mount --bind /run/bed-init/systemctl /usr/local/bin/systemctl && if [ -e /usr/bin/systemctl ]; then mount --bind /run/bed-init/systemctl /usr/bin/systemctl; fi",
  );
  // Enabled at boot, as kubelet.service is on a kubeadm machine: it crash-loops until joined.
  await hostExec(host, "echo run > /run/bed-init/kubelet.want");
  await spawnInHost(host, "/usr/bin/containerd --config /etc/containerd/config.toml >> /var/log/containerd.log 2>&1");
  await waitFor(
    `${host.name}: containerd`,
    async () =>
      (
        await hostExec(host, "ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && echo ok || true")
      ).trim() === "ok",
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  await hostExec(
    host,
    "ctr --address /run/containerd/containerd.sock -n k8s.io images import --all-platforms -",
    await readFile(binaryPath("pause")),
  ).catch(async (e) => {
    throw new Error(`${host.name}: pause image import failed: ${String(e)}`);
  });
  for (const b of ["kubeadm", "kubelet", "crictl"] as const) {
    await linkBinary(host, binaryPath(b), `/usr/local/bin/${b}`);
  }
  await spawnInHost(host, "/run/bed-init/kubelet-supervisor");
}

/** Runs a long-lived command in the host's namespaces, detached (teardown ends it with the host). */
async function spawnInHost(host: TestHost, command: string): Promise<void> {
  const child = spawn(
    "setsid",
    ["nsenter", "-t", String(host.holderPid), "-m", "-n", "-u", "--", "sh", "-c", command],
    { stdio: "ignore", detached: true },
  );
  child.unref();
}

async function hostExecOnMachine(command: string): Promise<void> {
  await execFileAsync("sh", ["-c", command]);
}

/**
 * Marks a Cluster's control plane initialized: with real nodes the bed's API server is the
 * cluster's control plane, which the bed (not a control plane provider) initialized. Cluster API
 * leaves the condition alone once it is True; CABPK waits for it before it writes a worker's data.
 */
export async function markControlPlaneInitialized(cp: ControlPlaneInfo, ns: string, name: string): Promise<void> {
  const path = `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters/${name}`;
  await waitFor(
    `${name}: ControlPlaneInitialized`,
    async () => {
      const c = JSON.parse((await apiGet(cp, `${cp.server}${path}`)).body) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      const conditions = c.status?.conditions;
      if (conditions?.find((x) => x.type === "ControlPlaneInitialized")?.status === "True") return true;
      // Until Cluster API has written its first status, a patch of ours would be lost in its own.
      if (!conditions) return false;
      const body = JSON.stringify({
        status: {
          conditions: [
            ...conditions.filter((x) => x.type !== "ControlPlaneInitialized"),
            {
              type: "ControlPlaneInitialized",
              status: "True",
              reason: "Initialized",
              message: "the test bed's API server",
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
            },
          ],
        },
      });
      await new Promise<void>((resolve, reject) => {
        const req = httpsRequest(
          `${cp.server}${path}/status`,
          {
            method: "PATCH",
            ca: cp.caPEM,
            headers: { authorization: `Bearer ${cp.token}`, "content-type": "application/merge-patch+json" },
            timeout: 5000,
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve());
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end(body);
      });
      return false;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}
