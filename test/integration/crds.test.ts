/**
 * capi-remote's CRDs against a real kube-apiserver: they install, k0smotron users' manifests
 * apply unchanged and read back through either version, and bad manifests are rejected with a
 * message that names the field.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KINDS } from "@capi-remote/shared";
import { parse } from "yaml";
import { apiErrorMessage } from "../bed/kube.js";
import { GROUP, useBed } from "./helpers.js";

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const plural = (kind: string) => Object.values(KINDS).find((k) => k.kind === kind)?.plural ?? "";

/** True when every field of `want` is in `have` with the same value (extra fields allowed). */
function assertContains(have: unknown, want: unknown, path = "") {
  if (want && typeof want === "object" && !Array.isArray(want)) {
    assert.ok(have && typeof have === "object", `${path} missing`);
    for (const [k, v] of Object.entries(want)) assertContains((have as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.deepEqual(have, want, `${path} differs`);
  }
}

describe("CRDs on a real API server", () => {
  const t = useBed("crds");

  const create = (o: Obj, fieldValidation = "Strict") => {
    const [, version] = o.apiVersion.split("/");
    return t.bed.clients.custom.createNamespacedCustomObject({
      group: GROUP,
      version: version ?? "",
      namespace: t.ns,
      plural: plural(o.kind),
      body: { ...o, metadata: { ...o.metadata, namespace: t.ns } },
      fieldValidation,
    });
  };
  const get = (kind: string, name: string, version: string) =>
    t.bed.clients.custom.getNamespacedCustomObject({
      group: GROUP,
      version,
      namespace: t.ns,
      plural: plural(kind),
      name,
    });

  it("every kind's CRD is Established and served as v1beta1 and v1beta2", async () => {
    for (const def of Object.values(KINDS)) {
      const crd = await t.bed.clients.ext.readCustomResourceDefinition({ name: `${def.plural}.${GROUP}` });
      assert.ok(
        crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True"),
        def.kind,
      );
      assert.deepEqual(crd.status?.storedVersions, ["v1beta2"]);
      const list = await t.bed.clients.custom.listNamespacedCustomObject({
        group: GROUP,
        version: "v1beta1",
        namespace: t.ns,
        plural: def.plural,
      });
      assert.ok(Array.isArray((list as { items: unknown[] }).items));
    }
  });

  // The manifests from k0smotron's blog and docs, byte for byte.
  const k0smotronManifests = parse(`
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: my-remote-machine}
  spec: {address: 192.168.1.100, port: 22, user: remoteuser, sshKeyRef: {name: ssh-key-secret}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachineTemplate
  metadata: {name: remote-test-template}
  spec: {template: {spec: {pool: default}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: PooledRemoteMachine
  metadata: {name: remote-test-0}
  spec: {pool: default, machine: {address: 1.2.3.4, port: 22, user: root, sshKeyRef: {name: footloose-key-0}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: with-everything}
  spec:
    address: node-1.example.com
    port: 2222
    user: ubuntu
    useSudo: true
    commandsAsScript: true
    workingDir: /var/lib/k0smotron
    sshKeyRef: {name: ssh-key-secret}
    customCleanUpCommands: ["k0s stop", "k0s reset"]
    provisionJob:
      sshCommand: tsh ssh
      scpCommand: tsh scp
      jobSpecTemplate:
        spec:
          template:
            spec:
              containers: [{name: ssh, image: teleport:latest}]
              restartPolicy: Never
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteCluster
  metadata: {name: remote-test}
  spec: {controlPlaneEndpoint: {host: 10.0.0.10, port: 6443}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteClusterTemplate
  metadata: {name: remote-test-template}
  spec: {template: {spec: {controlPlaneEndpoint: {host: 10.0.0.10, port: 6443}}}}
`) as Obj[];

  it("k0smotron's v1beta1 manifests apply unchanged and read back through v1beta2 with nothing lost", async () => {
    for (const m of k0smotronManifests) {
      await create(m);
      const back = (await get(m.kind, m.metadata.name, "v1beta2")) as Obj;
      assert.equal(back.apiVersion, `${GROUP}/v1beta2`);
      assertContains(back.spec, m.spec, `${m.kind}/${m.metadata.name}.spec`);
      // And through v1beta1 again.
      assertContains((await get(m.kind, m.metadata.name, "v1beta1")).spec, m.spec);
    }
  });

  // The remote-machine manifests of k0smotron's docs (capi-remote.md, capi-adoption.md,
  // capi-remotemachine-windows.md) and of its own e2e tests (inttest/capi-remote-machine*,
  // capi-docker-clusterclass), as written there except: names made unique, the namespace
  // dropped (the test's own), placeholders filled in. The Teleport and Okta ASA pages' shape is
  // refused on purpose (see "rejects provision job with containers where k0smotron's docs put
  // them" below).
  const k0smotronDocsAndTests = parse(`
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteCluster
  metadata: {name: adoption, annotations: {cluster.x-k8s.io/paused: "true"}}
  spec: {controlPlaneEndpoint: {host: 1.2.3.4, port: 6443}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata:
    name: adoption-cp-0
    annotations:
      cluster.x-k8s.io/paused: "true"
      cluster.x-k8s.io/cloned-from-name: my-cluster-cp-template
      cluster.x-k8s.io/cloned-from-groupkind: RemoteMachineTemplate.infrastructure.cluster.x-k8s.io
    labels:
      cluster.x-k8s.io/cluster-name: my-cluster
      cluster.x-k8s.io/control-plane: "true"
      cluster.x-k8s.io/control-plane-name: my-cluster
  spec: {address: 1.2.3.4, port: 22, user: root, sshKeyRef: {name: my-cluster-cp-ssh-key}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: docs-sudo}
  spec: {address: 1.2.3.4, port: 22, user: my-user, useSudo: true, sshKeyRef: {name: my-user-key}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: docs-cleanup}
  spec:
    address: 1.2.3.4
    port: 22
    user: root
    sshKeyRef: {name: footloose-key}
    customCleanUpCommands:
      - "systemctl stop custom-service"
      - "/custom-cleanup-script.sh"
      - "/usr/local/bin/k0s etcd leave"
      - "/usr/local/bin/k0s stop"
      - "/usr/local/bin/k0s reset"
      - "rm -rf /opt/custom-data"
      - "echo 'Custom cleanup completed'"
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteCluster
  metadata: {name: windows}
  spec: {}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: PooledRemoteMachine
  metadata: {name: windows-cp-0}
  spec: {pool: cp, machine: {address: 10.0.0.6, port: 22, user: ubuntu, useSudo: true, sshKeyRef: {name: linux-ssh-key}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: windows-worker-0}
  spec: {address: 10.0.0.7, port: 22, user: Administrator, sshKeyRef: {name: windows-ssh-key}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteCluster
  metadata: {name: inttest-null-spec}
  spec:
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteClusterTemplate
  metadata: {name: inttest-clusterclass}
  spec: {template: {spec: {}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: PooledRemoteMachine
  metadata: {name: inttest-labelled, labels: {my-custom-label: my-custom-value}}
  spec: {pool: default, machine: {address: 10.0.0.5, port: 22, user: root, commandsAsScript: true, sshKeyRef: {name: footloose-key}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: inttest-job}
  spec:
    address: 10.0.0.5
    user: root
    useSudo: true
    provisionJob:
      sshCommand: "ssh -o \\"StrictHostKeyChecking=no\\""
      scpCommand: "scp -o \\"StrictHostKeyChecking=no\\""
      jobSpecTemplate:
        spec:
          template:
            spec:
              containers:
                - name: ssh
                  image: makhov/alpine-ssh:latest
                  volumeMounts:
                    - name: ssh-key
                      mountPath: /root/.ssh
                      readOnly: true
              volumes:
                - name: ssh-key
                  secret:
                    secretName: footloose-key
                    items:
                      - key: id_rsa
                        path: id_rsa
                        mode: 0600
              restartPolicy: Never
`) as Obj[];

  it("every remote-machine manifest of k0smotron's docs and e2e tests applies unchanged and reads back", async () => {
    for (const m of k0smotronDocsAndTests) {
      await create(m);
      const back = (await get(m.kind, m.metadata.name, "v1beta2")) as Obj;
      if (m.spec) assertContains(back.spec, m.spec, `${m.kind}/${m.metadata.name}.spec`);
      const { labels, annotations } = m.metadata as { labels?: object; annotations?: object };
      const meta = { ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) };
      assertContains(back.metadata, meta, `${m.kind}/${m.metadata.name}.metadata`);
    }
  });

  // What k0smotron's API server accepts and Go clients write: zero values of structs without
  // omitempty (PooledMachineSpec's port and user, sshKeyRef's name), empty strings in YAML, a
  // control plane endpoint without port. The controller reads them as k0smotron does
  // (controller/src/migration/defaults.ts; the migration e2e test runs such objects).
  const goClientShapes = parse(`
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: PooledRemoteMachine
  metadata: {name: go-written}
  spec: {pool: default, machine: {address: 10.0.0.7, port: 0, user: "", sshKeyRef: {name: key}}}
  status: {reserved: false, machineRef: {name: "", namespace: ""}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: PooledRemoteMachine
  metadata: {name: empty-pool}
  spec: {pool: "", machine: {address: "", port: 0, user: "", workingDir: "", sshKeyRef: {name: ""}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
  kind: RemoteMachine
  metadata: {name: go-written}
  spec: {pool: default, address: "", providerID: "", sshKeyRef: {name: ""}, user: "", port: 0, workingDir: ""}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: empty-pool}
  spec: {pool: "", address: 10.0.0.8, sshKeyRef: {name: key}, customCleanUpCommands: [""]}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteCluster
  metadata: {name: no-port}
  spec: {controlPlaneEndpoint: {host: 10.0.0.10}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
  kind: RemoteClusterTemplate
  metadata: {name: no-port}
  spec: {template: {spec: {controlPlaneEndpoint: {host: cp.example.com}}}}
- apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
  kind: RemoteMachine
  metadata: {name: teleport-job}
  spec:
    address: node-1.example.com
    provisionJob:
      sshCommand: "tsh -i /identity-output/identity --proxy teleport.example.com:443 ssh"
      scpCommand: "tsh -i /identity-output/identity --proxy teleport.example.com:443 scp"
      jobSpecTemplate:
        spec:
          template:
            spec:
              containers:
                - name: teleport
                  image: public.ecr.aws/gravitational/teleport:14.3.3
                  volumeMounts: [{name: identity-output, mountPath: /identity-output}]
              volumes: [{name: identity-output, secret: {secretName: identity-output}}]
              restartPolicy: Never
`) as Obj[];

  it("accepts what k0smotron accepts and Go clients write: zero values, empty strings, an endpoint without port", async () => {
    for (const m of goClientShapes) {
      const { status: _status, ...body } = m as Obj & { status?: unknown };
      await create(body as Obj);
      assertContains((await get(m.kind, m.metadata.name, "v1beta2")).spec, m.spec, `${m.kind}/${m.metadata.name}`);
    }
    // k0smotron's free pool machine as Go writes its status.
    const cur = (await get("PooledRemoteMachine", "go-written", "v1beta1")) as Record<string, unknown>;
    await t.bed.clients.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: "v1beta1",
      namespace: t.ns,
      plural: "pooledremotemachines",
      name: "go-written",
      body: { ...cur, status: { reserved: false, machineRef: { name: "", namespace: "" } } },
    });
  });

  it("fills k0smotron's defaults in: port 22, user root, working dir /etc/k0smotron", async () => {
    await create({
      apiVersion: `${GROUP}/v1beta1`,
      kind: "RemoteMachine",
      metadata: { name: "defaults" },
      spec: { address: "10.1.2.3", sshKeyRef: { name: "k" } },
    });
    const back = (await get("RemoteMachine", "defaults", "v1beta2")) as { spec: Record<string, unknown> };
    assert.equal(back.spec.port, 22);
    assert.equal(back.spec.user, "root");
    assert.equal(back.spec.workingDir, "/etc/k0smotron");
    assert.equal(back.spec.commandsAsScript, false);
  });

  it("a v1beta2 object, status included, reads back through v1beta1 with nothing lost", async () => {
    const m: Obj = {
      apiVersion: `${GROUP}/v1beta2`,
      kind: "RemoteMachine",
      metadata: { name: "v1beta2-written" },
      spec: {
        address: "fd00::10",
        port: 22,
        user: "capi",
        useSudo: true,
        sshKeyRef: { name: "k" },
        cleanUpCommands: ["kubeadm reset -f"],
        providerID: "remote-machine://[fd00::10]:22",
      },
    };
    await create(m);
    const status = {
      ready: true,
      initialization: { provisioned: true },
      addresses: [{ type: "ExternalIP", address: "fd00::10" }],
      conditions: [
        { type: "Ready", status: "True", reason: "Provisioned", lastTransitionTime: "2026-01-01T00:00:00Z" },
      ],
    };
    const cur = (await get("RemoteMachine", m.metadata.name, "v1beta2")) as Record<string, unknown>;
    await t.bed.clients.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: "v1beta2",
      namespace: t.ns,
      plural: "remotemachines",
      name: m.metadata.name,
      body: { ...cur, status },
    });
    const back = (await get("RemoteMachine", m.metadata.name, "v1beta1")) as Obj;
    assert.equal(back.apiVersion, `${GROUP}/v1beta1`);
    assertContains(back.spec, m.spec);
    assertContains(back.status, status);
  });

  // Each bad manifest, and the words its rejection must contain (the field, at least).
  const rm = (spec: unknown, version = "v1beta2"): Obj => ({
    apiVersion: `${GROUP}/${version}`,
    kind: "RemoteMachine",
    metadata: { name: "bad" },
    ...(spec === undefined ? {} : { spec }),
  });
  const prm = (spec: unknown): Obj => ({
    apiVersion: `${GROUP}/v1beta2`,
    kind: "PooledRemoteMachine",
    metadata: { name: "bad" },
    spec,
  });
  const key = { sshKeyRef: { name: "k" } };
  const pjTemplate = { spec: { template: { spec: { containers: [{ name: "ssh", image: "ssh" }] } } } };
  const invalid: [string, Obj, string[]][] = [
    ["empty address and no pool", rm({ address: "", ...key }), ["spec.address", "on purpose"]],
    ["negative port", rm({ address: "h", port: -1, ...key }), ["spec.port", "1-65535", "on purpose"]],
    ["port above 65535", rm({ address: "h", port: 65536, ...key }), ["spec.port", "1-65535", "on purpose"]],
    ["port as a string", rm({ address: "h", port: "22", ...key }), ["spec.port", "integer"]],
    ["neither address nor pool", rm({ user: "root" }), ["spec.address", "spec.pool", "MissingFields"]],
    ["address without sshKeyRef", rm({ address: "10.0.0.1" }), ["spec.sshKeyRef", "required", "on purpose"]],
    ["sshKeyRef without name", rm({ address: "h", sshKeyRef: {} }), ["spec.sshKeyRef.name", "Required"]],
    ["empty pool and no address", rm({ pool: "" }), ["spec.address", "spec.pool", "on purpose"]],
    [
      "relative working dir",
      rm({ address: "h", workingDir: "tmp/x", ...key }),
      ["spec.workingDir", "absolute", "on purpose"],
    ],
    ["address with a scheme", rm({ address: "ssh://h", ...key }), ["spec.address", "bare IP address or DNS name"]],
    ["address with a user", rm({ address: "root@h", ...key }), ["spec.address"]],
    ["address with a space", rm({ address: "10.0.0.1 ", ...key }), ["spec.address"]],
    ["misspelt field", rm({ adress: "h", address: "h", ...key }), ['unknown field "spec.adress"']],
    [
      "both cleanup spellings",
      rm({ address: "h", ...key, cleanUpCommands: ["a"], customCleanUpCommands: ["b"] }),
      ["spec.cleanUpCommands", "customCleanUpCommands"],
    ],
    ["no spec at all", rm(undefined), ["spec", "Required"]],
    ["provider ID over 512 chars", rm({ address: "h", ...key, providerID: "x".repeat(513) }), ["spec.providerID"]],
    [
      "empty provision-job ssh command",
      rm({ address: "h", provisionJob: { sshCommand: "", jobSpecTemplate: pjTemplate } }),
      ["spec.provisionJob.sshCommand"],
    ],
    [
      "provision job with containers where k0smotron's docs put them (a Job drops them)",
      rm({
        address: "h",
        provisionJob: {
          jobSpecTemplate: { spec: { containers: [{ name: "teleport", image: "t" }], restartPolicy: "Never" } },
        },
      }),
      ["spec.provisionJob.jobSpecTemplate.spec", "jobSpecTemplate.spec.template.spec.containers"],
    ],
    [
      "provision job without a container",
      rm({ address: "h", provisionJob: { sshCommand: "ssh" } }),
      ["spec.provisionJob.jobSpecTemplate", "containers", "on purpose"],
    ],
    ["pool machine without pool", prm({ machine: { address: "h", ...key } }), ["spec.pool", "Required"]],
    ["pool machine without address", prm({ pool: "p", machine: { ...key } }), ["spec.machine.address", "Required"]],
    [
      "pool machine without sshKeyRef",
      prm({ pool: "p", machine: { address: "h" } }),
      ["spec.machine.sshKeyRef", "Required"],
    ],
    [
      "pool machine with port 70000",
      prm({ pool: "p", machine: { address: "h", port: 70000, ...key } }),
      ["spec.machine.port"],
    ],
    [
      "template without pool",
      {
        apiVersion: `${GROUP}/v1beta1`,
        kind: "RemoteMachineTemplate",
        metadata: { name: "bad" },
        spec: { template: { spec: {} } },
      },
      ["spec.template.spec.pool", "required"],
    ],
    [
      "template with empty pool",
      {
        apiVersion: `${GROUP}/v1beta1`,
        kind: "RemoteMachineTemplate",
        metadata: { name: "bad" },
        spec: { template: { spec: { pool: "" } } },
      },
      ["spec.template.spec.pool", "on purpose"],
    ],
    [
      "cluster endpoint with port 0",
      {
        apiVersion: `${GROUP}/v1beta2`,
        kind: "RemoteCluster",
        metadata: { name: "bad" },
        spec: { controlPlaneEndpoint: { host: "h", port: 0 } },
      },
      ["spec.controlPlaneEndpoint.port"],
    ],
    [
      "cluster endpoint with empty host",
      {
        apiVersion: `${GROUP}/v1beta2`,
        kind: "RemoteCluster",
        metadata: { name: "bad" },
        spec: { controlPlaneEndpoint: { host: "", port: 6443 } },
      },
      ["spec.controlPlaneEndpoint.host"],
    ],
    [
      "cluster endpoint with neither host nor port",
      {
        apiVersion: `${GROUP}/v1beta2`,
        kind: "RemoteCluster",
        metadata: { name: "bad" },
        spec: { controlPlaneEndpoint: {} },
      },
      ["spec.controlPlaneEndpoint", "1 properties"],
    ],
  ];

  for (const [name, manifest, words] of invalid) {
    it(`rejects ${name}, naming the field`, async () => {
      const err = await create(manifest).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err, `${name}: the API server accepted it`);
      const msg = apiErrorMessage(err);
      for (const w of words)
        assert.ok(msg.includes(w), `${name}: message does not mention ${JSON.stringify(w)}: ${msg}`);
    });
  }

  it("rejects changing spec.pool or a set spec.providerID", async () => {
    await create(rm({ pool: "p1" }, "v1beta2") as Obj & { metadata: { name: string } });
    const cur = (await get("RemoteMachine", "bad", "v1beta2")) as Obj & { spec: Record<string, unknown> };
    const replace = (spec: Record<string, unknown>) =>
      t.bed.clients.custom.replaceNamespacedCustomObject({
        group: GROUP,
        version: "v1beta2",
        namespace: t.ns,
        plural: "remotemachines",
        name: "bad",
        body: { ...cur, spec },
      });
    const e1 = await replace({ ...cur.spec, pool: "p2" }).catch((e: unknown) => e);
    assert.match(apiErrorMessage(e1), /spec\.pool.*immutable.*on purpose/);
    const withId = await replace({ ...cur.spec, address: "h", ...key, providerID: "remote-machine://h:22" });
    const e2 = await t.bed.clients.custom
      .replaceNamespacedCustomObject({
        group: GROUP,
        version: "v1beta2",
        namespace: t.ns,
        plural: "remotemachines",
        name: "bad",
        body: { ...withId, spec: { ...(withId as { spec: object }).spec, providerID: "remote-machine://other:22" } },
      })
      .catch((e: unknown) => e);
    assert.match(apiErrorMessage(e2), /spec\.providerID.*immutable.*on purpose/);
  });
});
