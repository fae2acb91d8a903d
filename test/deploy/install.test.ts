/**
 * Installing capi-remote the way Cluster API users install providers, against the real test bed:
 * On a test bed of its own (clusterctl re-applies the CRDs). Checked:
 * - `deploy/` is what scripts/manifests.ts renders, and has the shape clusterctl and a restricted
 *   namespace need;
 * - the controller's ServiceAccount under exactly the shipped RBAC is refused what it must not do
 *   (the e2e suites run the controller with that identity, so what it needs is proven there);
 * - the bundled controller (what the container image runs) starts with the Deployment's own
 *   arguments under that identity and takes the leader Lease;
 * - the real `clusterctl` (built from Go modules) installs the provider from a local repository
 *   (`clusterctl init --infrastructure remote`) and renders both cluster templates, which the API
 *   server then accepts (server-side dry run against the real CRDs and CAPI webhooks).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { PROVISION_JOB_ROLE, renderDeployFiles } from "../../scripts/manifests.js";
import { kubeconfigYaml } from "../bed/controlplane.js";
import { CONTROLLER_NAMESPACE, controllerKubeconfig, serviceAccountToken, shippedRbac } from "../bed/identity.js";
import { REPO_ROOT, startTestBed, type TestBed } from "../bed/index.js";
import { apply, ensureNamespace, waitEstablished } from "../bed/kube.js";
import { getMetrics } from "../bed/metrics.js";
import { execFileAsync, freePort, scratchDir, stopPid, waitFor } from "../bed/util.js";
import { binaryPath, ensureBinaries, goModuleDir, VERSIONS } from "../bed/versions.js";
import { type Any, bundledController, INFRA, rest } from "../e2e/harness.js";

const PROVIDER_LABEL = "cluster.x-k8s.io/provider";
const DEPLOY = join(REPO_ROOT, "deploy");
const docs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Any | null)
    .filter((o): o is Any => !!o);

/** One request with a bearer token; resolves with the HTTP status. */
function statusAs(server: string, ca: string, token: string, method: string, path: string, body?: unknown) {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      {
        method,
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("install: manifests, RBAC, image entrypoint, clusterctl", () => {
  // A bed of its own: `clusterctl init` re-applies capi-remote's CRDs and installs clusterctl's
  // inventory, which must not disturb the suites sharing the common bed.
  const t = { bed: undefined as unknown as TestBed, ns: "install" };
  before(async () => {
    await ensureBinaries(["clusterctl"]);
    t.bed = await startTestBed();
    await ensureNamespace(t.bed.clients, t.ns);
  });
  after(async () => {
    await t.bed?.stop();
  });

  it("deploy/ is what scripts/manifests.ts renders (run `npm run gen:deploy` when this fails)", () => {
    for (const [name, text] of renderDeployFiles()) {
      assert.equal(readFileSync(join(DEPLOY, name), "utf8"), text, `deploy/${name} is stale`);
    }
  });

  /** deploy/namespaced/manager.yaml for `watched`, its RBAC applied (without the grants named in `without`). */
  async function namespacedInstall(watched: string, without: string[] = []) {
    await ensureNamespace(t.bed.clients, watched);
    const text = readFileSync(join(DEPLOY, "namespaced", "manager.yaml"), "utf8").replaceAll(
      "capi-remote-watched",
      watched,
    );
    const objs = docs(text).filter((o) => !without.includes(o.metadata?.name));
    await apply(
      t.bed.clients,
      objs.filter((o) =>
        ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].includes(o.kind),
      ),
      "capi-remote-rbac-namespaced",
    );
    const token = await serviceAccountToken(t.bed, 600);
    const as = (method: string, path: string, body?: unknown) =>
      statusAs(t.bed.controlPlane.server, t.bed.controlPlane.caPEM, token, method, path, body);
    return { objs, token, as };
  }

  /**
   * The controller as the namespaced Deployment runs it (its --namespace from the env, plus
   * `extra` flags) under that identity, until it is ready and leads (or, with `until`, until its
   * log shows that). Returns its log.
   */
  async function runNamespaced(
    objs: Any[],
    watched: string,
    token: string,
    leaseId: string,
    extra: string[] = [],
    until?: (log: string) => boolean,
  ) {
    const dep = objs.find((o) => o.kind === "Deployment") as Any;
    const c = dep.spec.template.spec.containers[0];
    assert.equal(c.env.find((e: Any) => e.name === "CAPI_REMOTE_NAMESPACE")?.value, watched);
    const path = join(t.bed.dir, `controller-${leaseId}.kubeconfig`);
    await writeFile(
      path,
      kubeconfigYaml(t.bed.controlPlane.server, t.bed.controlPlane.caPEM, token, "capi-remote-manager"),
    );
    const port = await freePort();
    const args = (c.args as string[])
      .filter((a) => !/^--(health-addr|metrics-addr|leader-election-id)=/.test(a))
      .concat([
        `--kubeconfig=${path}`,
        `--health-addr=127.0.0.1:${port}`,
        `--metrics-addr=127.0.0.1:${await freePort()}`,
        `--leader-election-id=${leaseId}`,
        ...extra,
      ]);
    const log: string[] = [];
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "controller/src/main.ts"), ...args], {
      env: { ...process.env, POD_NAMESPACE: CONTROLLER_NAMESPACE, CAPI_REMOTE_NAMESPACE: watched },
      stdio: ["ignore", "pipe", "pipe"],
      cwd: REPO_ROOT,
    });
    child.stdout.on("data", (d: Buffer) => log.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => log.push(d.toString()));
    try {
      if (until) {
        await waitFor("the controller's log", () => until(log.join("")), { timeoutMs: 30_000, intervalMs: 200 });
        return log.join("");
      }
      await waitFor("namespaced controller ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
        timeoutMs: 60_000,
        intervalMs: 200,
      }).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${log.join("").slice(-2000)}`);
      });
      await waitFor(
        "Lease held",
        async () => {
          const l = await rest(
            t.bed,
            "GET",
            `/apis/coordination.k8s.io/v1/namespaces/${CONTROLLER_NAMESPACE}/leases/${leaseId}`,
          );
          if (!l.spec?.holderIdentity) throw new Error("no holder");
          return l;
        },
        { timeoutMs: 60_000 },
      );
      return log.join("");
    } finally {
      await stopPid(child.pid, 10_000);
    }
  }

  it("namespaced install: the controller works under a Role in its namespace and has no rights elsewhere", async () => {
    // First in this bed: the ServiceAccount has no cluster-wide binding yet (the next tests add it).
    const watched = "install-watched";
    await ensureNamespace(t.bed.clients, "install-other");
    const { objs, token, as } = await namespacedInstall(watched);
    // Cluster-wide, only token and access reviews (for /metrics) and the scrapers' reader role.
    const clusterRules = objs
      .filter((o) => o.kind === "ClusterRole")
      .flatMap((o) => (o.rules as Any[]).map((r) => [...(r.resources ?? []), ...(r.nonResourceURLs ?? [])].join(",")));
    assert.deepEqual(clusterRules, ["tokenreviews", "subjectaccessreviews", "/metrics"]);
    for (const p of [
      `/api/v1/namespaces/${watched}/secrets`,
      `/apis/cluster.x-k8s.io/v1beta2/namespaces/${watched}/machines`,
      `/apis/batch/v1/namespaces/${watched}/jobs`,
      `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${watched}/remotemachines`,
    ])
      assert.equal(await as("GET", p), 200, `GET ${p}`);
    for (const p of [
      "/api/v1/secrets",
      "/api/v1/namespaces/install-other/secrets",
      "/apis/cluster.x-k8s.io/v1beta2/machines",
      "/apis/batch/v1/jobs",
      "/apis/infrastructure.cluster.x-k8s.io/v1beta2/remotemachines",
    ])
      assert.equal(await as("GET", p), 403, `GET ${p} must be refused`);
    // The controller itself syncs its caches and leads under exactly these rights.
    const log = await runNamespaced(objs, watched, token, "namespaced-install");
    assert.ok(!/forbidden/i.test(log), `a request was refused:\n${log.slice(-2000)}`);
  });

  it("without the provision-jobs grant, a controller with --provision-jobs=false needs no right to create Jobs or Secrets", async () => {
    const watched = "install-nojobs";
    const { objs, token, as } = await namespacedInstall(watched, [PROVISION_JOB_ROLE]);
    assert.ok(!objs.some((o) => o.metadata?.name === PROVISION_JOB_ROLE));
    const job = { metadata: { name: "j" }, spec: { template: { spec: { containers: [], restartPolicy: "Never" } } } };
    assert.equal(await as("POST", `/apis/batch/v1/namespaces/${watched}/jobs`, job), 403);
    assert.equal(await as("GET", `/apis/batch/v1/namespaces/${watched}/jobs`), 403);
    assert.equal(await as("POST", `/api/v1/namespaces/${watched}/secrets`, { metadata: { name: "s" } }), 403);
    assert.equal(await as("GET", `/api/v1/namespaces/${watched}/secrets`), 200);
    const log = await runNamespaced(objs, watched, token, "namespaced-nojobs", ["--provision-jobs=false"]);
    assert.ok(!/forbidden/i.test(log), `a request was refused:\n${log.slice(-2000)}`);
    // The same controller with Jobs on is refused its watch of Jobs: the grant is what it needs.
    const refusedJobs = (l: string) => /jobs[^\n]*forbidden|forbidden[^\n]*jobs/i.test(l);
    assert.ok(refusedJobs(await runNamespaced(objs, watched, token, "namespaced-nojobs-on", [], refusedJobs)));
  });

  it("infrastructure-components.yaml has the shape clusterctl requires", async () => {
    const text = await readFile(join(DEPLOY, "clusterctl", "infrastructure-components.yaml"), "utf8");
    const objs = docs(text);
    const namespaces = objs.filter((o) => o.kind === "Namespace");
    assert.equal(namespaces.length, 1, "exactly one Namespace");
    for (const o of objs) {
      assert.equal(o.metadata?.labels?.[PROVIDER_LABEL], "infrastructure-remote", `${o.kind} ${o.metadata?.name}`);
      if (o.metadata?.namespace) assert.equal(o.metadata.namespace, namespaces[0].metadata.name);
    }
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of [
      "CustomResourceDefinition",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "Deployment",
      "Service",
    ])
      assert.ok(kinds.has(k), `has a ${k}`);
    const dep = objs.find((o) => o.kind === "Deployment") as Any;
    const c = dep.spec.template.spec.containers[0];
    assert.equal(c.name, "manager");
    assert.ok(c.env.some((e: Any) => e.name === "CAPI_REMOTE_NAMESPACE" && e.value.startsWith("${CAPI_REMOTE_WATCH")));
    assert.match(c.image, /^\$\{CAPI_REMOTE_IMAGE:=.+\}$/);
    assert.match(text, /replicas: \$\{CAPI_REMOTE_REPLICAS:=2\}/);
    // Restricted Pod Security: non-root, read-only root, no privilege escalation, no capabilities.
    const pod = dep.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.ok(c.livenessProbe.httpGet.path === "/healthz" && c.readinessProbe.httpGet.path === "/readyz");
    assert.ok(c.resources.requests.memory && c.resources.limits.memory);
    // Every RBAC rule says why it is there.
    const rulesBlock = text.slice(text.indexOf("kind: ClusterRole\n"), text.indexOf("kind: ClusterRoleBinding"));
    const ruleCount = (rulesBlock.match(/^ {2}- apiGroups:/gm) ?? []).length;
    const commented = (rulesBlock.match(/^ {2}# .+\n {2}- apiGroups:/gm) ?? []).length;
    assert.ok(ruleCount > 0);
    assert.equal(commented, ruleCount, "a comment above every rule");
    const meta = docs(await readFile(join(DEPLOY, "clusterctl", "metadata.yaml"), "utf8"))[0];
    assert.equal(meta.kind, "Metadata");
    assert.ok(meta.releaseSeries.every((s: Any) => s.contract === "v1beta2"));
  });

  it("the shipped RBAC refuses what the controller must not do", async () => {
    await apply(t.bed.clients, await shippedRbac(), "capi-remote-rbac");
    const token = await serviceAccountToken(t.bed, 600);
    const as = (method: string, path: string, body?: unknown) =>
      statusAs(t.bed.controlPlane.server, t.bed.controlPlane.caPEM, token, method, path, body);
    const ns = t.ns;
    await rest(t.bed, "POST", `/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: "keep-me" },
      stringData: { a: "b" },
    });
    await rest(t.bed, "POST", `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters`, {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "Cluster",
      metadata: { name: "c-rbac" },
      spec: { paused: true, infrastructureRef: { apiGroup: INFRA, kind: "RemoteCluster", name: "c-rbac" } },
    });
    // Allowed: what the controller does.
    const allowed: [string, string][] = [
      ["GET", `/apis/infrastructure.cluster.x-k8s.io/v1beta2/remotemachines`],
      ["GET", `/apis/infrastructure.cluster.x-k8s.io/v1beta2/pooledremotemachines`],
      ["GET", `/apis/cluster.x-k8s.io/v1beta2/machines`],
      ["GET", `/api/v1/namespaces/${ns}/secrets/keep-me`],
      ["GET", `/apis/coordination.k8s.io/v1/namespaces/${CONTROLLER_NAMESPACE}/leases/no-such-lease`],
    ];
    for (const [m, p] of allowed) {
      const code = await as(m, p);
      assert.ok(code === 200 || code === 404, `${m} ${p}: ${code}`);
    }
    // Refused: everything else, each a 403 from the real authorizer.
    const refused: [string, string, unknown?][] = [
      ["DELETE", `/api/v1/namespaces/${ns}/secrets/keep-me`],
      ["PATCH", `/api/v1/namespaces/${ns}/secrets/keep-me`, { metadata: { labels: { x: "y" } } }],
      ["GET", `/api/v1/namespaces/${ns}/configmaps`],
      ["POST", `/api/v1/namespaces/${ns}/pods`, { metadata: { name: "p" }, spec: { containers: [] } }],
      [
        "PATCH",
        `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters/c-rbac`,
        { metadata: { labels: { x: "y" } } },
      ],
      ["DELETE", `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters/c-rbac`],
      ["GET", `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases`],
      ["POST", `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { metadata: { name: "l" }, spec: {} }],
      ["GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions`],
      ["GET", `/apis/rbac.authorization.k8s.io/v1/clusterroles`],
      ["GET", `/api/v1/nodes`],
      ["POST", `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${ns}/remotemachines`, {}],
      ["DELETE", `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${ns}/remotemachinetemplates/x`],
    ];
    for (const [m, p, b] of refused) assert.equal(await as(m, p, b), 403, `${m} ${p} must be refused`);
    // The secret is untouched.
    const s = await rest(t.bed, "GET", `/api/v1/namespaces/${ns}/secrets/keep-me`);
    assert.equal(s.metadata.labels, undefined);
  });

  it("the bundled controller (the image's entrypoint) starts with the Deployment's arguments and leads", async () => {
    const out = await bundledController("bundle-");
    const dep = docs(await readFile(join(DEPLOY, "manager.yaml"), "utf8")).find((o) => o.kind === "Deployment") as Any;
    const c = dep.spec.template.spec.containers[0];
    const port = await freePort();
    const metricsPort = await freePort();
    const leaseId = `bundle-${t.ns}`;
    const args = (c.args as string[])
      .filter((a) => !/^--(health-addr|metrics-addr|leader-election-id)=/.test(a))
      .concat([
        `--kubeconfig=${await controllerKubeconfig(t.bed, `${t.ns}-bundle`)}`,
        `--health-addr=127.0.0.1:${port}`,
        `--metrics-addr=127.0.0.1:${metricsPort}`,
        `--leader-election-id=${leaseId}`,
        // One namespace, so that this replica does not act on other suites' objects.
        `--namespace=${t.ns}`,
      ]);
    const log: string[] = [];
    const child = spawn(process.execPath, [out, ...args], {
      env: { ...process.env, POD_NAMESPACE: CONTROLLER_NAMESPACE },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d: Buffer) => log.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => log.push(d.toString()));
    try {
      await waitFor("bundled controller ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
        timeoutMs: 60_000,
        intervalMs: 200,
      }).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${log.join("").slice(-2000)}`);
      });
      const lease = await waitFor(
        "Lease held",
        async () => {
          const l = await rest(
            t.bed,
            "GET",
            `/apis/coordination.k8s.io/v1/namespaces/${CONTROLLER_NAMESPACE}/leases/${leaseId}`,
          );
          if (!l.spec?.holderIdentity) throw new Error("no holder");
          return l;
        },
        { timeoutMs: 60_000 },
      );
      assert.ok(lease.spec.holderIdentity);
      // /metrics by default: over HTTPS with a self-signed certificate of the Pod's name, no
      // token 401, a token without the right 403, the admin's 200; nothing of it on the health port.
      const metrics = (token?: string) => getMetrics(metricsPort, token ? { token } : {});
      const anon = await metrics();
      assert.equal(anon.status, 401);
      assert.equal(anon.subject, hostname());
      assert.equal(anon.issuer, hostname(), "self-signed");
      assert.equal((await metrics("not-a-token")).status, 401);
      assert.equal((await metrics(await serviceAccountToken(t.bed, 600))).status, 403);
      const ok = await metrics(t.bed.controlPlane.token);
      assert.equal(ok.status, 200);
      assert.match(ok.text, /capi_remote_/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404);
      assert.ok(!/forbidden/i.test(log.join("")), "no request was refused");
    } finally {
      await stopPid(child.pid, 10_000);
    }
  });

  it("clusterctl init --infrastructure remote installs the provider from a local repository", async () => {
    const repo = scratchDir("clusterctl-");
    const files = renderDeployFiles();
    const ours = join(repo, "infrastructure-remote", "v0.1.0");
    await mkdir(ours, { recursive: true });
    for (const f of [
      "infrastructure-components.yaml",
      "metadata.yaml",
      "cluster-template.yaml",
      "cluster-template-pool.yaml",
    ])
      await writeFile(join(ours, f), files.get(`clusterctl/${f}`) ?? "");
    // Cluster API itself runs in the test bed already (not installed by clusterctl): its
    // repository only has to answer for its contract, read from its own module's metadata.yaml.
    const capiDir = await goModuleDir("sigs.k8s.io/cluster-api", VERSIONS.capi);
    const core = join(repo, "cluster-api", VERSIONS.capi);
    await mkdir(core, { recursive: true });
    await writeFile(join(core, "metadata.yaml"), await readFile(join(capiDir, "metadata.yaml")));
    await writeFile(join(core, "core-components.yaml"), "# installed by the test bed, not by clusterctl\n");
    const config = join(repo, "clusterctl.yaml");
    await writeFile(
      config,
      [
        "providers:",
        "  - name: cluster-api",
        "    type: CoreProvider",
        `    url: file://${core}/core-components.yaml`,
        "  - name: remote",
        "    type: InfrastructureProvider",
        `    url: file://${ours}/infrastructure-components.yaml`,
        "",
      ].join("\n"),
    );
    // clusterctl's inventory: the core provider the test bed runs is recorded as installed.
    const inventory = docs(await readFile(join(capiDir, "cmd/clusterctl/config/manifest/clusterctl-api.yaml"), "utf8"));
    await apply(t.bed.clients, inventory as never);
    await waitFor("inventory CRD", async () => {
      await rest(t.bed, "GET", "/apis/clusterctl.cluster.x-k8s.io/v1alpha3/providers");
      return true;
    });
    await apply(t.bed.clients, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "capi-system" } },
      {
        apiVersion: "clusterctl.cluster.x-k8s.io/v1alpha3",
        kind: "Provider",
        metadata: { name: "cluster-api", namespace: "capi-system", labels: { [PROVIDER_LABEL]: "cluster-api" } },
        providerName: "cluster-api",
        type: "CoreProvider",
        version: VERSIONS.capi,
      } as never,
    ]);
    // Our provider needs no cert-manager (no webhooks); clusterctl insists on finding its API,
    // which it probes by creating an Issuer and a Certificate: their CRDs suffice.
    await apply(t.bed.clients, certManagerApi() as never);
    await waitEstablished(t.bed.clients, ["issuers.cert-manager.io", "certificates.cert-manager.io"]);
    const env = {
      ...process.env,
      HOME: repo,
      CLUSTERCTL_DISABLE_VERSIONCHECK: "true",
      CAPI_REMOTE_IMAGE: "example.org/capi-remote:test",
      CONTROL_PLANE_ENDPOINT_HOST: "192.0.2.1",
      MACHINE_ADDRESS: "192.0.2.10",
      SSH_KEY_SECRET_NAME: "ssh-key",
    };
    const clusterctl = (...args: string[]) =>
      execFileAsync(
        binaryPath("clusterctl"),
        [...args, "--config", config, "--kubeconfig", t.bed.controlPlane.kubeconfig],
        {
          env,
          maxBuffer: 16 << 20,
        },
      ).catch((e: Any) => {
        throw new Error(`clusterctl ${args.join(" ")} failed: ${e.stderr ?? ""}${e.stdout ?? ""}`);
      });
    const init = await clusterctl("init", "--infrastructure", "remote:v0.1.0");
    assert.match(init.stdout + init.stderr, /Installing provider="infrastructure-remote" version="v0\.1\.0"/i);
    const provider = await rest(
      t.bed,
      "GET",
      `/apis/clusterctl.cluster.x-k8s.io/v1alpha3/namespaces/${CONTROLLER_NAMESPACE}/providers/infrastructure-remote`,
    );
    assert.equal(provider.version, "v0.1.0");
    assert.equal(provider.type, "InfrastructureProvider");
    const dep = await rest(
      t.bed,
      "GET",
      `/apis/apps/v1/namespaces/${CONTROLLER_NAMESPACE}/deployments/capi-remote-controller-manager`,
    );
    assert.equal(dep.spec.replicas, 2);
    assert.equal(dep.spec.template.spec.containers[0].image, "example.org/capi-remote:test");
    // Watches every namespace by default (the --namespace flag's variable is empty).
    assert.equal(
      dep.spec.template.spec.containers[0].env.find((e: Any) => e.name === "CAPI_REMOTE_NAMESPACE").value ?? "",
      "",
    );
    assert.equal(dep.metadata.labels[PROVIDER_LABEL], "infrastructure-remote");

    // Both templates render, and the API server accepts what it knows of them.
    for (const flavor of ["", "pool"]) {
      const { stdout } = await clusterctl(
        "generate",
        "cluster",
        `demo-${flavor || "one"}`,
        "--infrastructure",
        "remote:v0.1.0",
        ...(flavor ? ["--flavor", flavor] : []),
        "--target-namespace",
        t.ns,
        "--kubernetes-version",
        "v1.35.0",
        "--control-plane-machine-count",
        "1",
        "--worker-machine-count",
        "2",
      );
      const objs = docs(stdout);
      assert.ok(objs.length >= 4, `flavor ${flavor || "default"} rendered ${objs.length} objects`);
      assert.ok(!stdout.includes("${"), "every variable was substituted");
      for (const o of objs) {
        assert.equal(o.metadata.namespace, t.ns);
        // Kinds the test bed serves (Cluster API core and ours) are checked by the API server.
        if (!/^(cluster\.x-k8s\.io|infrastructure\.cluster\.x-k8s\.io)\//.test(o.apiVersion)) continue;
        const plural = `${o.kind.toLowerCase()}s`;
        await rest(t.bed, "POST", `/apis/${o.apiVersion}/namespaces/${t.ns}/${plural}?dryRun=All`, o).catch(
          (e: unknown) => {
            throw new Error(`${o.kind} ${o.metadata.name} of flavor ${flavor || "default"} refused: ${String(e)}`);
          },
        );
      }
      if (flavor === "pool") {
        const md = objs.find((o) => o.kind === "MachineDeployment") as Any;
        assert.equal(md.spec.replicas, 2);
        assert.equal((objs.find((o) => o.kind === "KubeadmControlPlane") as Any).spec.replicas, 1);
      } else {
        const rm = objs.find((o) => o.kind === "RemoteMachine") as Any;
        assert.equal(rm.spec.port, 22);
        assert.equal(rm.spec.address, "192.0.2.10");
      }
    }
  });
});

/** The two cert-manager kinds clusterctl probes for, as schemaless CRDs. */
function certManagerApi() {
  return ["Issuer", "Certificate"].map((kind) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${kind.toLowerCase()}s.cert-manager.io` },
    spec: {
      group: "cert-manager.io",
      names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase(), listKind: `${kind}List` },
      scope: "Namespaced",
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  }));
}
