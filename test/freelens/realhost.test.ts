/**
 * The packed extension in the real Freelens 1.9.0 renderer (its own DI application builder under
 * jest/jsdom; see extension/test/realhost/) against the shared test bed's real API server, real
 * Cluster API manager and capi-remote's CRDs. This file makes the objects, prepares Freelens's
 * tree (cached outside the repository), packs the extension with `npm run pack`, runs the jest
 * suites inside Freelens's tree and reports each of their tests here.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { PoolAnnotations } from "../../shared/src/contract.js";
import { type ControlPlaneInfo, startControlPlane, stopControlPlane } from "../bed/controlplane.js";
import { REPO_ROOT } from "../bed/index.js";
import { apply, clientsFor, parseYamlObjects, waitEstablished } from "../bed/kube.js";
import { scratchDir } from "../bed/util.js";
import { INFRA, makeCluster, objects } from "../e2e/harness.js";
import { useBed } from "../integration/helpers.js";
import { type JestResult, prepareFreelens, runJest } from "./realhost.js";
import { listBox, shoot, tableProblems, visibleText, WINDOW } from "./screenshots.js";

// CAPI_REALHOST_FILES (comma-separated) runs only some of them while iterating on one.
const FILES = process.env.CAPI_REALHOST_FILES?.split(",") ?? [
  "main.jest.tsx",
  "missing.jest.tsx",
  "rbac.jest.tsx",
  "rbac-all.jest.tsx",
  "lists.jest.tsx",
  "install.jest.tsx",
];

const run = promisify(execFile);

describe("extension in the real Freelens 1.9.0 renderer", () => {
  const t = useBed("realhost");
  let extDir = "";
  // CAPI_REALHOST_KEEP=1 keeps the scratch folder (the kept markup, the extension) for a look.
  const keep = process.env.CAPI_REALHOST_KEEP ? "always" : undefined;
  const scratch = scratchDir("realhost-", { keep });

  let results: JestResult[] = [];
  let tree = "";
  const shots = join(scratch, "shots");
  mkdirSync(shots);
  let bare: ControlPlaneInfo | undefined;
  /** Another bare API server, which install.jest.tsx installs capi-remote into. */
  let installInto: ControlPlaneInfo | undefined;

  before(async () => {
    // A second, bare API server of our own for the missing-CRD state: the shared bed's CRDs must
    // stay for other suites.
    const bareDir = join(scratch, "bare");
    mkdirSync(bareDir);
    const installDir = join(scratch, "install");
    mkdirSync(installDir);
    const [prepared, , , cp, icp] = await Promise.all([
      prepareFreelens(),
      packExtension(),
      fixtures(),
      startControlPlane(bareDir).then(async (cp) => {
        bare = cp;
        await anotherProvidersCrd(cp);
        return cp;
      }),
      startControlPlane(installDir).then((cp) => {
        installInto = cp;
        return cp;
      }),
    ]);
    tree = prepared;
    const target = (x: { server: string; token: string; caPEM: string }) =>
      JSON.stringify({ server: x.server, token: x.token, caPEM: x.caPEM });
    const admin = target(t.bed.controlPlane);
    const t0 = Date.now();
    results = await runJest(tree, join(REPO_ROOT, "extension/test/realhost/jest"), FILES, {
      CAPI_REALHOST_API: admin,
      CAPI_REALHOST_ADMIN: admin,
      CAPI_REALHOST_BARE: target(cp),
      CAPI_REALHOST_LIMITED: target({ ...t.bed.controlPlane, token: await limitedUserToken() }),
      CAPI_REALHOST_NS: t.ns,
      CAPI_REALHOST_EXT: extDir,
      CAPI_REALHOST_SHOTS: shots,
      ...(await installEnv(icp)),
    });
    console.log(`# jest in Freelens's tree: ${FILES.length} files in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  });
  after(async () => {
    if (bare) await stopControlPlane(bare);
    if (installInto) await stopControlPlane(installInto);
    // A kept folder keeps no secret: the two API servers' keys and tokens go with them.
    for (const d of keep ? ["bare", "install"] : [""]) rmSync(join(scratch, d), { recursive: true, force: true });
  });

  /**
   * The bare API server serves infrastructure.cluster.x-k8s.io through another provider's CRD,
   * as a cluster with Cluster API and some other infrastructure provider does: capi-remote's
   * kinds then answer 404 with a Status (group known, resource not), while Cluster API's group
   * answers the plain text "404 page not found". The missing-CRD pages see both kinds of 404.
   */
  async function anotherProvidersCrd(cp: ControlPlaneInfo) {
    const c = clientsFor(cp.kubeconfig);
    const name = "othermachines.infrastructure.cluster.x-k8s.io";
    await apply(c, [
      {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name },
        spec: {
          group: INFRA,
          scope: "Namespaced",
          names: {
            kind: "OtherMachine",
            plural: "othermachines",
            singular: "othermachine",
            listKind: "OtherMachineList",
          },
          versions: [
            {
              name: "v1beta2",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
            },
          ],
        },
      } as KubernetesObject,
    ]);
    await waitEstablished(c, [name]);
  }

  /**
   * A ServiceAccount that may get, list and watch Cluster API and capi-remote objects (but not
   * RemoteMachines) and Events in the test's namespace, and change nothing; its token comes from
   * the TokenRequest API.
   */
  async function limitedUserToken(): Promise<string> {
    const read = ["get", "list", "watch"];
    await objects(t.bed, t.ns).apply([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "lens-viewer" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "lens-viewer" },
        rules: [
          {
            apiGroups: [INFRA],
            resources: ["pooledremotemachines", "remotemachinetemplates", "remoteclusters"],
            verbs: read,
          },
          {
            apiGroups: ["cluster.x-k8s.io"],
            resources: ["clusters", "machines", "machinedeployments", "machinesets"],
            verbs: read,
          },
          { apiGroups: [""], resources: ["events"], verbs: read },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "lens-viewer" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "lens-viewer" },
        subjects: [{ kind: "ServiceAccount", name: "lens-viewer", namespace: t.ns }],
      },
    ]);
    const res = (await t.bed.clients.core.createNamespacedServiceAccountToken({
      namespace: t.ns,
      name: "lens-viewer",
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: 3600 },
      },
    })) as { status?: { token?: string } };
    assert.ok(res.status?.token, "TokenRequest returned no token");
    return res.status.token;
  }

  /**
   * What install.jest.tsx needs: a user of the install's API server who may read everything and
   * change nothing (a ServiceAccount bound to a read-only ClusterRole), its admin, and the objects
   * of deploy/install.yaml the install must apply.
   */
  async function installEnv(cp: ControlPlaneInfo): Promise<Record<string, string>> {
    const c = clientsFor(cp.kubeconfig);
    await apply(c, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "lens-users" } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "reader", namespace: "lens-users" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "lens-reader" },
        rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["get", "list", "watch"] }],
      } as KubernetesObject,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "lens-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "lens-reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: "lens-users" }],
      } as KubernetesObject,
    ]);
    const res = (await c.core.createNamespacedServiceAccountToken({
      namespace: "lens-users",
      name: "reader",
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: ["https://kubernetes.default.svc"], expirationSeconds: 3600 },
      },
    })) as { status?: { token?: string } };
    assert.ok(res.status?.token, "TokenRequest returned no token");
    const manifests = parseYamlObjects(readFileSync(join(REPO_ROOT, "deploy/install.yaml"), "utf8"));
    const target = (token: string) => JSON.stringify({ server: cp.server, token, caPEM: cp.caPEM });
    return {
      CAPI_REALHOST_INSTALL: target(res.status.token),
      CAPI_REALHOST_INSTALL_ADMIN: target(cp.token),
      CAPI_REALHOST_INSTALL_OBJECTS: JSON.stringify(
        manifests.map((m) => `${m.kind} ${m.metadata?.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata?.name}`),
      ),
    };
  }

  async function packExtension() {
    const t0 = Date.now();
    const { stdout } = await run("npm", ["run", "pack", "-w", "extension", "--", "--out", scratch], { cwd: REPO_ROOT });
    const tgz = /packed (\S+\.tgz)/.exec(stdout)?.[1];
    assert.ok(tgz, `npm run pack printed no tarball: ${stdout}`);
    extDir = join(scratch, "extension");
    mkdirSync(extDir);
    await run("tar", ["xzf", tgz, "-C", extDir, "--strip-components=1"]);
    console.log(`# packed and unpacked the extension in ${Date.now() - t0} ms`);
  }

  async function fixtures() {
    const o = objects(t.bed, t.ns);
    await makeCluster(t.bed, t.ns, "c1");
    await o.apply([
      { apiVersion: "v1", kind: "Secret", metadata: { name: "boot" }, stringData: { value: "#!/bin/sh\ntrue\n" } },
      {
        apiVersion: `${INFRA}/v1beta2`,
        kind: "RemoteMachineTemplate",
        metadata: { name: "lens-tmpl" },
        spec: { template: { spec: { pool: "lens" } } },
      },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineDeployment",
        metadata: { name: "md1" },
        spec: {
          clusterName: "c1",
          replicas: 1,
          selector: { matchLabels: { pool: "lens" } },
          template: {
            metadata: { labels: { pool: "lens" } },
            spec: {
              clusterName: "c1",
              bootstrap: { dataSecretName: "boot" },
              infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "lens-tmpl" },
            },
          },
        },
      },
      { apiVersion: `${INFRA}/v1beta2`, kind: "RemoteMachine", metadata: { name: "m-one" }, spec: { pool: "lens" } },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name: "m-one" },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: "boot" },
          infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name: "m-one" },
        },
      },
      ...["pm-a", "pm-b", "pm-stale"].map((name, i) => ({
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name, annotations: name === "pm-stale" ? { [PoolAnnotations.ClaimedBy]: "gone" } : {} },
        spec: { pool: "lens", machine: { address: `198.18.9.${i + 1}`, sshKeyRef: { name: "ssh-key" } } },
      })),
    ]);
  }

  /** Results of the one jest run, per file: each `it` below reports one file's tests. */
  const fileResults = (file: string) => {
    const mine = results.filter((r) => r.file === file);
    for (const r of mine) console.log(`# ${r.status === "passed" ? "ok" : "FAIL"} ${r.title} (${r.duration ?? 0} ms)`);
    assert.ok(mine.length > 0, `jest ran no tests of ${file}`);
    assert.deepEqual(
      mine
        .filter((r) => r.status !== "passed")
        .map((r) => `${r.title}: ${r.failureMessages.join("\n").slice(0, 3000)}`),
      [],
    );
  };

  it("sidebar, every page, panels in the drawer, menu items, actions through the ConfirmDialog, watch updates", () =>
    fileResults("main.jest.tsx"));

  it("pages name what to install on an API server without the CRDs", () => fileResults("missing.jest.tsx"));

  it("a user who may only read some kinds in one namespace: pages show what they may, actions are refused clearly", () =>
    fileResults("rbac.jest.tsx"));

  it("the same user with all namespaces selected: the page says the cluster-wide list is forbidden and what to do", () =>
    fileResults("rbac-all.jest.tsx"));

  it("Machines, Remote machines and pool-machine lists on Lens's list layout, with row menus", () =>
    fileResults("lists.jest.tsx"));

  it("installs capi-remote from the extension: refused for a reader (nothing applied), done once granted", () =>
    fileResults("install.jest.tsx"));

  it("screenshots of every page, panel and dialog, with Freelens's CSS, in test-results/screenshots", async () => {
    const expected = [
      "sidebar",
      "page-pools",
      "page-pool",
      "page-clusters",
      "page-machines",
      "page-remote-machines",
      "drawer-pooledremotemachine",
      "drawer-remotemachine",
      "drawer-machine",
      "dialog-release",
      "dialog-pause",
      "dialog-scale-down",
      "notification-release",
      "missing-crds-pools",
      "missing-crds-machines",
      "rbac-remote-machines-forbidden",
      "rbac-cordon-refused",
      "rbac-all-namespaces-forbidden",
      "dialog-install",
      "install-offer",
      "install-refused",
      "install-done",
    ].filter((n) =>
      FILES.includes(
        n.startsWith("missing")
          ? "missing.jest.tsx"
          : n.startsWith("install") || n === "dialog-install"
            ? "install.jest.tsx"
            : n.startsWith("rbac-all")
              ? "rbac-all.jest.tsx"
              : n.startsWith("rbac")
                ? "rbac.jest.tsx"
                : "main.jest.tsx",
      ),
    );
    const out = join(REPO_ROOT, "test-results", "screenshots");
    const t0 = Date.now();
    const names = await shoot(tree, shots, out);
    console.log(`# ${names.length} screenshots in ${Date.now() - t0} ms: ${out}/freelens-*.png`);
    assert.deepEqual(names, [...expected].sort());
    for (const n of names) assert.ok(statSync(join(out, `freelens-${n}.png`)).size > 10_000, `${n}.png is empty`);
    // The drawers name the object's namespace once (Lens's meta block), as a person sees them.
    for (const d of ["drawer-pooledremotemachine", "drawer-remotemachine", "drawer-machine"].filter((n) =>
      names.includes(n),
    )) {
      const seen = await visibleText(shots, d, ".Drawer .drawer-content");
      assert.equal(seen.split(t.ns).length - 1, 1, `${d}: the namespace ${t.ns} is shown other than once:\n${seen}`);
      assert.equal(seen.split("Namespace").length - 1, 1, `${d}: other than one Namespace row:\n${seen}`);
    }
    // Our own tables read in a 1280x800 window: no text cut without an ellipsis and a title, no
    // two neighbouring headers or cells run together.
    for (const [page, rows] of [
      ["page-clusters", "table.capi-tree tr"],
      ["page-pools", ".capi-table .capi-thead, .capi-table .capi-row"],
    ] as const) {
      if (!names.includes(page)) continue;
      assert.deepEqual(await tableProblems(shots, page, rows), [], `${page}: tables hard to read`);
    }
    if (names.includes("page-machines")) {
      // The list box the harness gives Freelens's virtual lists is the one Chromium lays out
      // for the Machines page with Freelens's CSS in the same window.
      const box = await listBox(shots, "page-machines");
      console.log(
        `# Machines list box in a ${WINDOW.width}x${WINDOW.height} window: ${box.width.toFixed(0)}x${box.height.toFixed(0)} px (harness: ${WINDOW.listWidth}x${WINDOW.listHeight})`,
      );
      assert.ok(
        Math.abs(box.height - WINDOW.listHeight) <= 8 && Math.abs(box.width - WINDOW.listWidth) <= 8,
        `list box ${box.width}x${box.height} px, harness ${WINDOW.listWidth}x${WINDOW.listHeight}`,
      );
    }
  });
});
