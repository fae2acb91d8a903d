/**
 * Real nodes end to end: Cluster API's kubeadm bootstrap provider (CABPK) writes the bootstrap
 * data, capi-remote runs it unchanged on SSH test hosts, a real `kubeadm join` joins the bed's API
 * server, a real kubelet (built at the bed's Kubernetes version, containerd/runc/CNI from Debian)
 * does its TLS bootstrap through kube-controller-manager and registers a Node that goes Ready;
 * capi-remote sets the provider ID and the Machine goes Running. On delete the default cleanup
 * (`kubeadm reset -f`) resets the host, the pool machine goes back, and a second cluster's Machine
 * joins on the same host.
 *
 * This suite starts its own bed (`startTestBed({ kubeadm: true })`): the shared bed has no
 * bootstrap-token auth, Node authorizer or kube-controller-manager, and stays as fast as it was.
 * It prints where the time goes from Machine creation to Node Ready, for one worker and for three
 * in parallel.
 */
import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { createHost, destroyHost, hostExec, readHostFile, type TestHost } from "../bed/hosts.js";
import { canMakeHosts, startTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";
import {
  clusterCaSecret,
  hostNodeRegistration,
  markControlPlaneInitialized,
  prepareKubeadmHost,
} from "../bed/kubeadm.js";
import { waitFor } from "../bed/util.js";
import { VERSIONS } from "../bed/versions.js";
import {
  type Any,
  ControllerProcess,
  INFRA,
  makeCluster,
  makeMachine,
  objects,
  poolTemplate,
  rest,
} from "./harness.js";

const BOOTSTRAP = "bootstrap.cluster.x-k8s.io";
const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const MARK_B64 = Buffer.from("written by CABPK's write_files, base64\n").toString("base64");
const MARK_GZ = gzipSync(Buffer.from("written by CABPK's write_files, gzip+base64\n")).toString("base64");

/** What a kubeadm worker's KubeadmConfig says; the join itself (token, CA hashes, endpoint) is CABPK's. */
const kubeadmSpec = () => ({
  files: [
    { path: "/etc/capi-remote-test/b64.txt", encoding: "base64", content: MARK_B64, permissions: "0640" },
    { path: "/etc/capi-remote-test/gz.txt", encoding: "gzip+base64", content: MARK_GZ },
  ],
  // Named host, containerd, and only the preflight check the test hosts fail (cgroup v1), so
  // any other failing check still stops the join.
  joinConfiguration: { nodeRegistration: hostNodeRegistration() },
});

/** The Machine's bootstrap: CABPK's KubeadmConfig `name`, for the bed's Kubernetes version. */
const kubeadmConfig = (name: string) => ({
  configRef: { apiGroup: BOOTSTRAP, kind: "KubeadmConfig", name },
  version: VERSIONS.kubernetes,
});

describe("real kubeadm workers", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  let bed: TestBed;
  const ns = `kubeadm-${randomBytes(3).toString("hex")}`;
  const hosts: TestHost[] = [];
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  const figures: string[] = [];

  const node = (name: string) => bed.clients.core.readNode({ name }).catch(() => undefined);
  const capiGet = (plural: string, name: string) =>
    rest(bed, "GET", `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${plural}/${name}`).catch(() => undefined);

  /** The bed's API server is this cluster's control plane, initialized by the bed (what `kubeadm init` did). */
  async function cluster(name: string) {
    await makeCluster(bed, ns, name);
    await o.apply([clusterCaSecret(bed.controlPlane, name)]);
    await markControlPlaneInitialized(bed.controlPlane, ns, name);
  }

  /**
   * Follows one Machine from creation to Node Ready, recording when each stage happened: from
   * the objects' own timestamps where they have one (CABPK's data Secret and the kubelet's CSR:
   * creationTimestamp, capi-remote's run: status.bootstrap.startedAt, one-second resolution; the
   * files capi-remote wrote and the sentinel: their
   * mtime on the host), else when first seen (polled every 100 ms, later under load): the Node,
   * Node Ready, Machine Running. While the Node is registered but not Ready, the kubelet's reason
   * is kept, to say where that time went.
   */
  async function follow(machine: string, t0: number) {
    const seen: Record<string, number> = {};
    const mark = (k: string, ok: boolean) => {
      if (ok && seen[k] === undefined) seen[k] = Date.now() - t0;
    };
    let host: TestHost | undefined;
    let nodeName = "";
    const notReady = new Set<string>();
    await waitFor(
      `${machine}: Node Ready and Machine Running`,
      async () => {
        const m = (await capiGet("machines", machine)) as Any;
        const dataSecret = m?.spec?.bootstrap?.dataSecretName;
        if (dataSecret && seen["bootstrap data (CABPK)"] === undefined) {
          const sec = await bed.clients.core.readNamespacedSecret({ name: dataSecret, namespace: ns });
          seen["bootstrap data (CABPK)"] = Date.parse(String(sec.metadata?.creationTimestamp)) - t0;
        }
        const rmName = m?.spec?.infrastructureRef?.name;
        if (rmName && (!host || seen["capi-remote started the run"] === undefined)) {
          const rm = await o.rmOrUndefined(rmName);
          host ??= hosts.find((h) => h.address === rm?.spec?.address);
          // capi-remote's own record of when it started the run on the host (one-second resolution).
          const started = rm?.status?.bootstrap?.startedAt;
          if (started) seen["capi-remote started the run"] = Date.parse(started) - t0;
        }
        if (host) {
          nodeName = host.name;
          // When capi-remote's run wrote CABPK's join configuration (a reused host still has the last one).
          const written = Number(
            (await hostExec(host, "date -r /run/kubeadm/kubeadm-join-config.yaml +%s%3N 2>/dev/null || echo 0")).trim(),
          );
          if (written >= t0 && seen["capi-remote wrote the files"] === undefined)
            seen["capi-remote wrote the files"] = written - t0;
          const joined = Number(
            (
              await hostExec(host, "date -r /run/cluster-api/bootstrap-success.complete +%s%3N 2>/dev/null || echo 0")
            ).trim(),
          );
          if (joined >= t0 && seen["kubeadm join done (sentinel)"] === undefined)
            seen["kubeadm join done (sentinel)"] = joined - t0;
          // The kubelet's TLS bootstrap: its CSR (created at second resolution) and the certificate
          // kube-controller-manager approved and signed for this node.
          const csrs = await rest(bed, "GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests");
          for (const c of (csrs.items ?? []) as Any[]) {
            if (c.spec.signerName !== "kubernetes.io/kube-apiserver-client-kubelet" || !c.status?.certificate) continue;
            const subject = new X509Certificate(Buffer.from(c.status.certificate, "base64")).subject;
            if (!subject.includes(`CN=system:node:${host.name}`)) continue;
            const created = Date.parse(String(c.metadata?.creationTimestamp)) - t0;
            if (created < -1000) continue; // an earlier join of the same host
            if (seen["kubelet CSR created"] === undefined) seen["kubelet CSR created"] = created;
            mark("kubelet certificate issued", true);
          }
          const n = await node(host.name);
          mark("Node registered", !!n);
          const ready = n?.status?.conditions?.find((c) => c.type === "Ready");
          mark("Node Ready", ready?.status === "True");
          if (n && ready?.status !== "True")
            notReady.add(`${ready?.reason ?? "no Ready condition"}: ${ready?.message ?? ""}`);
        }
        mark("Machine Running", m?.status?.phase === "Running" && !!m?.status?.nodeRef);
        return seen["Node Ready"] !== undefined && seen["Machine Running"] !== undefined;
      },
      { timeoutMs: 300_000, intervalMs: 100 },
    );
    if (notReady.size) console.log(`${machine}: Node not Ready yet because ${[...notReady].join(" | ")}`);
    return { seen, nodeName, host };
  }

  const table = (title: string, rows: Record<string, number>[]) => {
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].sort(
      (a, b) => Math.max(...rows.map((r) => r[a] ?? 0)) - Math.max(...rows.map((r) => r[b] ?? 0)),
    );
    const lines = [`${title} (seconds after the Machine was created; see follow() for how each is timed)`];
    for (const k of keys)
      lines.push(
        `  ${k.padEnd(38)} ${rows.map((r) => ((r[k] ?? Number.NaN) / 1000).toFixed(1).padStart(6)).join(" ")}`,
      );
    figures.push(lines.join("\n"));
    console.log(lines.join("\n"));
  };

  // Long: on a cold machine this waits for the kubelet, kubeadm and CABPK builds (build-binaries.sh).
  before(
    async () => {
      bed = await startTestBed({ kubeadm: true });
      await ensureNamespace(bed.clients, ns);
      o = objects(bed, ns);
      const key = await makeKeyPair("ed25519");
      const made = await Promise.all(
        ["kadm-a", "kadm-b", "kadm-c", "kadm-d"].map((n) => createHost(n, [key.publicKey])),
      );
      hosts.push(...made);
      const t = Date.now();
      await Promise.all(made.map((h) => prepareKubeadmHost(h)));
      console.log(`4 hosts made kubeadm-ready (containerd up, pause image loaded) in ${Date.now() - t} ms`);
      await o.apply([sshKeySecret(ns, "ssh-key", key)]);
      await cluster("c1");
      ctl = new ControllerProcess(bed, ns, "kubeadm");
      await ctl.start();
    },
    { timeout: 60 * 60_000 },
  );

  after(async () => {
    if (figures.length) console.log(`\n${figures.join("\n\n")}`);
    await ctl?.stop();
    await Promise.all(hosts.map((h) => destroyHost(h)));
    await bed?.stop();
  });

  it("a single RemoteMachine with a KubeadmConfig joins with CABPK's own data; its Node goes Ready", async () => {
    const h = hosts[3] as TestHost;
    const t0 = Date.now();
    await o.apply([
      { apiVersion: `${BOOTSTRAP}/v1beta2`, kind: "KubeadmConfig", metadata: { name: "single" }, spec: kubeadmSpec() },
    ]);
    await makeMachine(
      bed,
      ns,
      "single",
      "c1",
      { address: h.address, sshKeyRef: { name: "ssh-key" } },
      kubeadmConfig("single"),
    );
    const { seen } = await follow("single", t0);
    table("one real worker", [seen]);

    // The bootstrap data is CABPK's: its jinja header, write_files with encodings, kubeadm join --config.
    const m = (await capiGet("machines", "single")) as Any;
    const secret = await bed.clients.core.readNamespacedSecret({
      name: m.spec.bootstrap.dataSecretName,
      namespace: ns,
    });
    const data = Buffer.from(String(secret.data?.value), "base64").toString();
    // (assert.ok, not match: a failure must not print the data, which holds a bootstrap token)
    assert.ok(/^## template: jinja\n#cloud-config/.test(data), "CABPK's jinja header");
    assert.ok(/encoding: "?gzip\+base64"?/.test(data), "write_files with an encoding");
    assert.ok(/kubeadm join --config \/run\/kubeadm\/kubeadm-join-config\.yaml/.test(data), "kubeadm join --config");
    assert.equal(await readHostFile(h, "/etc/capi-remote-test/b64.txt"), "written by CABPK's write_files, base64\n");
    assert.equal(
      await readHostFile(h, "/etc/capi-remote-test/gz.txt"),
      "written by CABPK's write_files, gzip+base64\n",
    );
    const joinCfg = (await readHostFile(h, "/run/kubeadm/kubeadm-join-config.yaml")) ?? "";
    assert.ok(
      new RegExp(`name: '?${h.name}'?\\n`).test(joinCfg),
      "the jinja hostname was rendered (output hidden: it holds a token)",
    );

    // The real kubelet registered and capi-remote set the provider ID.
    const rm = await o.rm("single");
    const n = await node(h.name);
    assert.ok(n, "Node registered");
    assert.equal(n.status?.nodeInfo?.kubeletVersion, VERSIONS.kubernetes);
    assert.match(String(n.status?.nodeInfo?.containerRuntimeVersion), /^containerd:\/\//);
    assert.equal(n.spec?.providerID, rm.spec.providerID);
    assert.equal(m.status.phase, "Running");
    assert.equal(m.status.nodeRef.name, h.name);
    // The kubelet's client certificate came from TLS bootstrap, signed by the cluster's CA.
    const cert = await hostExec(h, "openssl x509 -noout -subject -in /var/lib/kubelet/pki/kubelet-client-current.pem");
    assert.match(cert, new RegExp(`CN\\s*=\\s*system:node:${h.name}`));
  });

  it("a MachineDeployment with a KubeadmConfigTemplate on a pool: 3 real workers join in parallel", async () => {
    const pool = hosts.slice(0, 3);
    await o.apply([
      ...pool.map((h, i) => ({
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name: `pm-${i}` },
        spec: { pool: "workers", machine: { address: h.address, sshKeyRef: { name: "ssh-key" } } },
      })),
      poolTemplate("workers"),
      {
        apiVersion: `${BOOTSTRAP}/v1beta2`,
        kind: "KubeadmConfigTemplate",
        metadata: { name: "workers" },
        spec: { template: { spec: kubeadmSpec() } },
      },
    ]);
    await waitFor(
      "3 pool machines Available",
      async () => (await o.list("pooledremotemachines")).filter((p) => p.status?.phase === "Available").length === 3,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const t0 = Date.now();
    await o.apply([
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineDeployment",
        metadata: { name: "md" },
        spec: {
          clusterName: "c1",
          replicas: 3,
          selector: { matchLabels: { pool: "workers" } },
          template: {
            metadata: { labels: { pool: "workers" } },
            spec: {
              clusterName: "c1",
              version: VERSIONS.kubernetes,
              bootstrap: { configRef: { apiGroup: BOOTSTRAP, kind: "KubeadmConfigTemplate", name: "workers" } },
              infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "workers" },
            },
          },
        },
      },
    ]);
    const names = await waitFor(
      "3 Machines of md",
      async () => {
        const ms = (await o.list("machines", "cluster.x-k8s.io")).filter(
          (m) => m.metadata.labels?.["cluster.x-k8s.io/deployment-name"] === "md",
        );
        return ms.length === 3 ? ms.map((m) => m.metadata.name as string) : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const results = await Promise.all(names.map((n) => follow(n, t0)));
    table(
      "three real workers in parallel (one column each)",
      results.map((r) => r.seen),
    );
    const rms = await o.list("remotemachines");
    for (const r of results) {
      const n = await node(r.nodeName);
      assert.equal(n?.status?.nodeInfo?.kubeletVersion, VERSIONS.kubernetes);
      const rm = rms.find((x) => x.spec?.address === r.host?.address);
      assert.ok(rm?.spec?.providerID, `${r.nodeName}: RemoteMachine with a provider ID`);
      assert.equal(n?.spec?.providerID, rm.spec.providerID);
    }
    const all = await bed.clients.core.listNode();
    assert.equal(all.items.filter((n) => n.status?.nodeInfo?.kubeletVersion === VERSIONS.kubernetes).length, 4);
  });

  it("on delete kubeadm reset -f resets the host, the pool machine goes back, and a second cluster joins there", async () => {
    await o.patchCapi("machinedeployments", "md", { spec: { replicas: 2 } });
    const freed = await waitFor(
      "one pool machine back to Available",
      async () => {
        const ps = await o.list("pooledremotemachines");
        const p = ps.find((x) => x.status?.phase === "Available" && !x.metadata.annotations?.[CLAIMED_BY]);
        return p;
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );
    const h = hosts.find((x) => x.address === freed.spec.machine.address) as TestHost;
    // kubeadm reset ran on the host: its kubelet configuration and credentials are gone and the
    // kubelet was stopped through the init system.
    assert.equal(await readHostFile(h, "/etc/kubernetes/kubelet.conf"), undefined);
    assert.equal(await readHostFile(h, "/var/lib/kubelet/config.yaml"), undefined);
    assert.equal((await readHostFile(h, "/run/bed-init/kubelet.want"))?.trim(), "stop");
    // Cluster API keeps the Nodes of a cluster without control plane Machines (it never deletes
    // what may be the last control plane Node), and without a node lifecycle controller the old
    // Node still reads Ready, which kubeadm join refuses: the cluster's admin removes it.
    await bed.clients.core.deleteNode({ name: h.name });

    // A second cluster's Machine takes the same host from the pool and joins it.
    await cluster("c2");
    const t0 = Date.now();
    await o.apply([
      { apiVersion: `${BOOTSTRAP}/v1beta2`, kind: "KubeadmConfig", metadata: { name: "c2-w" }, spec: kubeadmSpec() },
    ]);
    await makeMachine(bed, ns, "c2-w", "c2", { pool: "workers" }, kubeadmConfig("c2-w"));
    const { seen, nodeName } = await follow("c2-w", t0);
    table("a second cluster's worker on a reset host", [seen]);
    assert.equal(nodeName, h.name);
    const n = await node(h.name);
    const rm = await o.rm("c2-w");
    assert.equal(n?.spec?.providerID, rm.spec.providerID);
    assert.equal((await capiGet("machines", "c2-w"))?.status?.phase, "Running");
  });
});
