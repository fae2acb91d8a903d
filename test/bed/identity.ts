/**
 * The controller's own identity in the test bed: the ServiceAccount and RBAC exactly as shipped in
 * `deploy/manager.yaml`, and a token for it from the TokenRequest API. Every e2e suite runs the
 * controller with this identity, so a rule missing from the shipped RBAC fails the suites.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { kubeconfigYaml } from "./controlplane.js";
import type { TestBed } from "./index.js";
import { REPO_ROOT } from "./index.js";
import { apply, parseYamlObjects } from "./kube.js";

export const CONTROLLER_NAMESPACE = "capi-remote-system";
export const CONTROLLER_SERVICE_ACCOUNT = "capi-remote-manager";
const RBAC_KINDS = new Set(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

/** The shipped Namespace, ServiceAccount and RBAC objects. */
export async function shippedRbac() {
  const text = await readFile(join(REPO_ROOT, "deploy", "manager.yaml"), "utf8");
  return parseYamlObjects(text).filter((o) => RBAC_KINDS.has(o.kind ?? ""));
}

/** A token for the controller's ServiceAccount (TokenRequest API). */
export async function serviceAccountToken(bed: TestBed, seconds = 86_400): Promise<string> {
  const res = (await bed.clients.core.createNamespacedServiceAccountToken({
    namespace: CONTROLLER_NAMESPACE,
    name: CONTROLLER_SERVICE_ACCOUNT,
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: seconds },
    },
  })) as { status?: { token?: string } };
  const token = res.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}

/**
 * Applies the shipped RBAC (idempotent: suites running side by side apply the same objects) and
 * writes a kubeconfig that authenticates as the controller's ServiceAccount. Returns its path.
 */
export async function controllerKubeconfig(bed: TestBed, name: string): Promise<string> {
  await apply(bed.clients, await shippedRbac(), "capi-remote-rbac");
  const token = await serviceAccountToken(bed);
  const path = join(bed.dir, `controller-${name}.kubeconfig`);
  await writeFile(
    path,
    kubeconfigYaml(bed.controlPlane.server, bed.controlPlane.caPEM, token, CONTROLLER_SERVICE_ACCOUNT),
    { mode: 0o600 },
  );
  return path;
}
