/** The pinned versions in versions.env, and where the built binaries are cached. */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CACHE_DIR } from "./util.js";

const here = dirname(fileURLToPath(import.meta.url));

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(here, "versions.env"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}

const v = readVersions();
export const VERSIONS = {
  kubernetes: v.KUBERNETES_VERSION ?? "",
  etcd: v.ETCD_VERSION ?? "",
  capi: v.CAPI_VERSION ?? "",
  crictl: v.CRICTL_VERSION ?? "",
  pauseImage: v.PAUSE_IMAGE ?? "",
  pauseTag: v.PAUSE_IMAGE_TAG ?? "",
};

export type Binary =
  | "etcd"
  | "kube-apiserver"
  | "capi-manager"
  | "clusterctl"
  // Real nodes (the kubeadm bed):
  | "capi-kubeadm-bootstrap"
  | "kube-controller-manager"
  | "kubeadm"
  | "kubelet"
  | "crictl"
  | "pause";

/** Everything the kubeadm bed needs on top of the default bed. */
export const KUBEADM_BINARIES: Binary[] = [
  "capi-kubeadm-bootstrap",
  "kube-controller-manager",
  "kubeadm",
  "kubelet",
  "crictl",
  "pause",
];

/** Path of a cached binary (for "pause": the OCI image archive). */
export function binaryPath(name: Binary): string {
  switch (name) {
    case "etcd":
      return join(CACHE_DIR, "bin", `etcd-${VERSIONS.etcd}`);
    case "kube-apiserver":
    case "kube-controller-manager":
    case "kubeadm":
    case "kubelet":
      return join(CACHE_DIR, "bin", `${name}-${VERSIONS.kubernetes}`);
    case "crictl":
      return join(CACHE_DIR, "bin", `crictl-${VERSIONS.crictl}`);
    case "pause":
      return join(CACHE_DIR, "bin", `pause-oci-${VERSIONS.pauseTag}.tar`);
    default:
      return join(CACHE_DIR, "bin", `${name}-${VERSIONS.capi}`);
  }
}

/** Builds whichever of the binaries are not cached yet (progress goes to stderr). */
export async function ensureBinaries(names: Binary[]): Promise<void> {
  const missing = names.filter((n) => !existsSync(binaryPath(n)));
  if (missing.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [join(here, "build-binaries.sh"), ...missing], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CAPI_REMOTE_CACHE: CACHE_DIR },
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`build-binaries.sh exited ${code}`))));
  });
}

/** Directory of a Go module in the module cache (downloading it if needed). */
export async function goModuleDir(module: string, version: string): Promise<string> {
  const { execFileAsync } = await import("./util.js");
  const { stdout } = await execFileAsync("go", ["mod", "download", "-json", `${module}@${version}`], {
    cwd: CACHE_DIR,
    maxBuffer: 1 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download gave no directory for ${module}@${version}`);
  return dir;
}
