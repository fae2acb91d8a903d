/**
 * The main job (`npm start`).
 *
 * With a cluster at hand (KUBECONFIG, ~/.kube/config, or running in a Pod) it runs the
 * controller against it (arguments after `--` go to the controller; `--help` lists them). With
 * none, it brings up the local environment: a real kube-apiserver and etcd, the Cluster API
 * manager, capi-remote's CRDs, three SSH hosts and the controller, creates a demo cluster whose
 * three Machines are provisioned over SSH while you watch, and prints how to reach it all once
 * every Machine is Running (or names what is stuck). Ctrl-C tears everything down.
 *
 *   npm start                 the fast demo: the hosts register their Nodes with a stand-in bootstrap
 *   npm start -- --kubeadm    real workers: Cluster API's kubeadm bootstrap provider writes the
 *                             bootstrap data, `kubeadm join` runs on the hosts, real kubelets
 *                             (containerd from Debian) register their Nodes (docs/real-nodes.md)
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { makeKeyPair } from "../test/bed/fixtures.js";
import { createHost, destroyHost, reapStaleHosts, type TestHost } from "../test/bed/hosts.js";
import { REPO_ROOT, reapStaleBeds, startTestBed } from "../test/bed/index.js";
import { apply, ensureNamespace } from "../test/bed/kube.js";
import {
  clusterCaSecret,
  hostNodeRegistration,
  markControlPlaneInitialized,
  prepareKubeadmHost,
} from "../test/bed/kubeadm.js";
import { ensureBinaries, KUBEADM_BINARIES, VERSIONS } from "../test/bed/versions.js";
import { type Any, ControllerProcess, makeCluster, objects, testBootstrap } from "../test/e2e/harness.js";
import { createDemoCluster, createDemoPool } from "./demo.js";

function haveCluster(): string | undefined {
  if (process.env.KUBERNETES_SERVICE_HOST) return "in-cluster";
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  const def = join(homedir(), ".kube", "config");
  return existsSync(def) ? def : undefined;
}

async function localEnvironment(kubeadm: boolean) {
  if (process.getuid?.() !== 0) {
    console.error("The local environment needs root (network namespaces for the SSH hosts).");
    process.exit(1);
  }
  const { spawnSync } = await import("node:child_process");
  const deps = [join(REPO_ROOT, "test/bed/install-system-deps.sh"), ...(kubeadm ? ["--kubeadm"] : [])];
  if (spawnSync("bash", deps, { stdio: "inherit" }).status !== 0) {
    process.exit(1);
  }
  console.log("Building the local environment's binaries if needed (first run: about 20 minutes)...");
  await ensureBinaries(["etcd", "kube-apiserver", "capi-manager", ...(kubeadm ? KUBEADM_BINARIES : [])]);
  await reapStaleBeds();
  await reapStaleHosts();
  console.log(
    kubeadm
      ? "Starting kube-apiserver (bootstrap tokens, Node authorizer), etcd, kube-controller-manager, the Cluster API manager and its kubeadm bootstrap provider..."
      : "Starting kube-apiserver, etcd and the Cluster API manager...",
  );
  const bed = await startTestBed({ kubeadm });
  const hosts: TestHost[] = [];
  let ctl: ControllerProcess | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nTearing down...");
    await ctl?.stop();
    for (const h of hosts) await destroyHost(h).catch(() => {});
    await bed.stop();
    process.exit(0);
  };
  // Ctrl-C reaches npm, tsx and us at once; our output may go away before we are done tearing
  // down, which must not stop the teardown.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop());

  const key = await makeKeyPair("ed25519", "demo");
  // With real nodes the local API server is the control plane (initialized by the bed, as
  // `kubeadm init` would have); the fast demo has a control-plane Machine of its own.
  for (const name of kubeadm ? ["demo-w1", "demo-w2"] : ["demo-cp", "demo-w1", "demo-w2"])
    hosts.push(await createHost(name, [key.publicKey]));
  const cpHost = kubeadm ? undefined : hosts[0];
  const workerHosts = kubeadm ? hosts : hosts.slice(1);
  if (kubeadm) {
    console.log("Making the hosts kubeadm workers can run on (containerd, cgroups, a local pause image)...");
    await Promise.all(hosts.map((h) => prepareKubeadmHost(h)));
  }
  await ensureNamespace(bed.clients, "demo");
  const INFRA = "infrastructure.cluster.x-k8s.io";
  await createDemoPool(bed, "demo", workerHosts, key);
  const keyFile = join(bed.dir, "demo-ssh-key");
  await writeFile(keyFile, key.privateKey, { mode: 0o600 });

  console.log("Starting the capi-remote controller (as its ServiceAccount, under the shipped RBAC)...");
  ctl = new ControllerProcess(bed, "demo", "demo");
  await ctl.start();

  if (cpHost) {
    console.log("Creating Cluster demo: a control-plane Machine at an address, a MachineDeployment of 2 on the pool:");
    await createDemoCluster(bed, "demo", cpHost, workerHosts.length);
  } else {
    await makeCluster(bed, "demo", "demo");
    console.log("Creating Cluster demo: a MachineDeployment of 2 real kubeadm workers on the pool:");
    await apply(bed.clients, [clusterCaSecret(bed.controlPlane, "demo", "demo")]);
    await markControlPlaneInitialized(bed.controlPlane, "demo", "demo");
  }
  const BOOTSTRAP = "bootstrap.cluster.x-k8s.io";
  // The fast demo's workers were made by createDemoCluster (scripts/demo.ts, which the tests use).
  if (kubeadm)
    await apply(bed.clients, [
      kubeadm
        ? {
            apiVersion: `${BOOTSTRAP}/v1beta2`,
            kind: "KubeadmConfigTemplate",
            metadata: { name: "demo-workers", namespace: "demo" },
            spec: {
              template: {
                spec: {
                  joinConfiguration: { nodeRegistration: hostNodeRegistration() },
                },
              },
            },
          }
        : {
            apiVersion: "v1",
            kind: "Secret",
            metadata: {
              name: "demo-workers-bootstrap",
              namespace: "demo",
              labels: { "cluster.x-k8s.io/cluster-name": "demo" },
            },
            type: "cluster.x-k8s.io/secret",
            stringData: { value: testBootstrap(bed) },
          },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineDeployment",
        metadata: { name: "demo-workers", namespace: "demo" },
        spec: {
          clusterName: "demo",
          replicas: workerHosts.length,
          selector: { matchLabels: { "demo/pool": "workers" } },
          template: {
            metadata: { labels: { "demo/pool": "workers" } },
            spec: {
              clusterName: "demo",
              ...(kubeadm ? { version: VERSIONS.kubernetes } : {}),
              bootstrap: kubeadm
                ? { configRef: { apiGroup: BOOTSTRAP, kind: "KubeadmConfigTemplate", name: "demo-workers" } }
                : { dataSecretName: "demo-workers-bootstrap" },
              infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "demo-workers" },
            },
          },
        },
      },
    ] as never);
  const o = objects(bed, "demo");
  const seen = new Map<string, string>();
  const deadline = Date.now() + (kubeadm ? 300_000 : 180_000);
  let stuck: string[] = [];
  while (Date.now() < deadline) {
    let running = 0;
    stuck = [];
    const machines = ((await o.list("machines", "cluster.x-k8s.io")) as Any[]).sort((x, y) =>
      x.metadata.name.localeCompare(y.metadata.name),
    );
    for (const m of machines) {
      const rmName = m.spec?.infrastructureRef?.name as string | undefined;
      const rm = rmName ? await o.rmOrUndefined(rmName) : undefined;
      const ready = rm ? o.condition(rm, "Ready") : undefined;
      const waiting = rm ? o.condition(rm, "PoolMachineClaimed") : undefined;
      const where = rm?.spec?.address ? `${rm.spec.address}` : "no address yet";
      const pool = rm?.metadata?.annotations?.["remote.infrastructure.cluster.x-k8s.io/pool-machine"];
      const line =
        `  ${m.metadata.name} (${where}${pool ? `, pool machine ${pool}` : ""}): Machine ${m.status?.phase ?? "Pending"}, ${ready?.reason ?? waiting?.reason ?? "-"} ${ready?.message ?? ""}`.trimEnd();
      if (seen.get(m.metadata.name) !== line) console.log(line);
      seen.set(m.metadata.name, line);
      if (m.status?.phase === "Running") running++;
      else stuck.push(line.trim());
    }
    if (machines.length < hosts.length) stuck.push(`${hosts.length - machines.length} Machine(s) not created yet`);
    if (machines.length === hosts.length && running === hosts.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (stuck.length > 0) {
    console.error(`
The local environment is NOT up: these Machines are not Running after ${kubeadm ? 5 : 3} minutes:
  ${stuck.join("\n  ")}
  Logs: ${bed.dir}/{kube-apiserver,capi-manager,controller-demo${kubeadm ? ",capi-kubeadm-bootstrap,kube-controller-manager" : ""}}.log
It stays running for a look; press Ctrl-C to tear it down.`);
    await new Promise(() => {});
  }
  if (kubeadm) {
    const nodes = await bed.clients.core.listNode();
    console.log("\nNodes (real kubelets):");
    for (const n of nodes.items)
      console.log(
        `  ${n.metadata?.name}  ${n.status?.nodeInfo?.kubeletVersion}  ${n.status?.nodeInfo?.containerRuntimeVersion}  ${n.spec?.providerID}`,
      );
  }

  console.log(`
Local environment is up.

  kubectl:  export KUBECONFIG=${bed.controlPlane.kubeconfig}
            kubectl -n demo get pooledremotemachines,remotemachinetemplates
            kubectl -n demo scale machinedeployment demo-workers --replicas=1   # a host goes back to the pool
  Lens:     add the kubeconfig file above (File > Add Cluster, or ~/.kube/config).
            kubectl -n demo get clusters,machines,remotemachines
  SSH:      ${hosts.map((h) => `ssh -i ${keyFile} root@${h.address}   # ${h.name}`).join("\n            ")}
  Logs:     ${bed.dir}/{kube-apiserver,etcd,capi-manager,controller-demo${kubeadm ? ",capi-kubeadm-bootstrap,kube-controller-manager" : ""}}.log${kubeadm ? "\n            on a host: /var/log/kubelet.log, /var/log/containerd.log" : ""}

Press Ctrl-C to tear everything down.`);
  await new Promise(() => {});
}

const cluster = haveCluster();
if (cluster || process.argv.includes("--help")) {
  // Run the controller against that cluster, in the foreground, as it runs in a Pod.
  const { spawnSync } = await import("node:child_process");
  // Leader election stays on (the controller's default): another replica may run against the same cluster.
  const args = process.argv.slice(2);
  if (cluster) console.error(`Running the capi-remote controller against ${cluster} (--help lists its flags)`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "controller/src/main.ts"), ...args], {
    stdio: "inherit",
  });
  process.exit(r.status ?? 1);
} else {
  await localEnvironment(process.argv.includes("--kubeadm"));
}
