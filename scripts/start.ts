/**
 * The main job (`npm start`).
 *
 * With a cluster at hand (KUBECONFIG, ~/.kube/config, or running in a Pod) it runs the
 * controller against it. With none, it brings up the local environment: a real kube-apiserver
 * and etcd, the Cluster API manager, capi-remote's CRDs and three SSH test hosts, and prints how
 * to reach them. Ctrl-C tears everything down.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { makeKeyPair, sshKeySecret } from "../test/bed/fixtures.js";
import { createHost, destroyHost, type TestHost } from "../test/bed/hosts.js";
import { REPO_ROOT, reapStaleBeds, startTestBed } from "../test/bed/index.js";
import { apply, ensureNamespace } from "../test/bed/kube.js";
import { ensureBinaries } from "../test/bed/versions.js";

function haveCluster(): string | undefined {
  if (process.env.KUBERNETES_SERVICE_HOST) return "in-cluster";
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  const def = join(homedir(), ".kube", "config");
  return existsSync(def) ? def : undefined;
}

async function localEnvironment() {
  if (process.getuid?.() !== 0) {
    console.error("The local environment needs root (network namespaces for the SSH hosts).");
    process.exit(1);
  }
  const { spawnSync } = await import("node:child_process");
  if (spawnSync("bash", [join(REPO_ROOT, "test/bed/install-system-deps.sh")], { stdio: "inherit" }).status !== 0) {
    process.exit(1);
  }
  console.log("Building the local environment's binaries if needed (first run: about 20 minutes)...");
  await ensureBinaries(["etcd", "kube-apiserver", "capi-manager"]);
  await reapStaleBeds();
  console.log("Starting kube-apiserver, etcd and the Cluster API manager...");
  const bed = await startTestBed();
  const hosts: TestHost[] = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nTearing down...");
    for (const h of hosts) await destroyHost(h).catch(() => {});
    await bed.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  const key = await makeKeyPair("ed25519", "demo");
  for (const name of ["node-1", "node-2", "node-3"]) hosts.push(await createHost(name, [key.publicKey]));
  await ensureNamespace(bed.clients, "demo");
  await apply(bed.clients, [
    sshKeySecret("demo", "demo-ssh-key", key),
    ...hosts.map((h) => ({
      apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
      kind: "PooledRemoteMachine",
      metadata: { name: h.name, namespace: "demo" },
      spec: { pool: "demo", machine: { address: h.address, user: "root", sshKeyRef: { name: "demo-ssh-key" } } },
    })),
  ]);
  const keyFile = join(bed.dir, "demo-ssh-key");
  await writeFile(keyFile, key.privateKey, { mode: 0o600 });

  console.log(`
Local environment is up.

  kubectl:  export KUBECONFIG=${bed.controlPlane.kubeconfig}
            kubectl get crds; kubectl -n demo get pooledremotemachines
  Lens:     add the kubeconfig file above (File > Add Cluster, or ~/.kube/config).
  SSH:      ${hosts.map((h) => `ssh -i ${keyFile} root@${h.address}   # ${h.name}`).join("\n            ")}
  Logs:     ${bed.dir}/{kube-apiserver,etcd,capi-manager}.log

Press Ctrl-C to tear everything down.`);
  await new Promise(() => {});
}

const cluster = haveCluster();
if (cluster) {
  console.error(`A cluster is configured (${cluster}), but the controller is not built yet (see the issues).`);
  process.exit(1);
} else {
  await localEnvironment();
}
