import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { BootstrapDataError, type FileStep, planBootstrap } from "./plan.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (f: FileStep | undefined) => Buffer.from(f?.contentB64 ?? "", "base64").toString();

// Shaped like kubeadm's output (CABPK): jinja header, files, runcmd with the sentinel.
const KUBEADM = `## template: jinja
#cloud-config

write_files:
-   path: /etc/kubernetes/pki/ca.crt
    owner: root:root
    permissions: '0640'
    content: |
      -----BEGIN CERTIFICATE-----
      MIIC
      -----END CERTIFICATE-----
-   path: /run/kubeadm/kubeadm-join-config.yaml
    owner: root:root
    permissions: '0640'
    content: |
      ---
      apiVersion: kubeadm.k8s.io/v1beta4
      discovery:
        bootstrapToken:
          token: abcdef.0123456789abcdef
      nodeRegistration:
        name: '{{ ds.meta_data.hostname }}'
-   path: /run/cluster-api/placeholder
    owner: root:root
    permissions: '0640'
    content: "This placeholder file is used to create the /run/cluster-api sub directory in a way that is compatible with both Linux and Windows (mkdir -p /run/cluster-api does not work with Windows)"
runcmd:
  - kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  && echo success > /run/cluster-api/bootstrap-success.complete
`;

// Shaped like k0s's output (k0smotron's bootstrap provider).
const K0S = `#cloud-config
write_files:
- path: /etc/k0s.token
  permissions: "0600"
  content: H4sIAAAAAAAA/token
- path: /etc/k0s/k0s.yaml
  permissions: "0644"
  content: |
    apiVersion: k0s.k0sproject.io/v1beta1
runcmd:
- curl -sSfL --retry 5 https://get.k0s.sh | K0S_VERSION=v1.30.0+k0s.0 sh
- k0s install worker --token-file /etc/k0s.token --labels=k0smotron.io/machine-name=rm-0
- k0s start
- mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete
`;

describe("planBootstrap", () => {
  it("plans kubeadm's output in cloud-init order with the hostname rendered", () => {
    const plan = planBootstrap(KUBEADM, "cloud-config", { hostname: "node-7" });
    assert.deepEqual(
      plan.steps.map((s) => [s.kind, s.name]),
      [
        ["file", "write_files[0] /etc/kubernetes/pki/ca.crt"],
        ["file", "write_files[1] /run/kubeadm/kubeadm-join-config.yaml"],
        ["file", "write_files[2] /run/cluster-api/placeholder"],
        ["command", "runcmd[0]"],
      ],
    );
    const join = plan.steps[1] as FileStep;
    assert.equal(join.permissions, "0640");
    assert.equal(join.owner, "root:root");
    assert.match(text(join), /name: 'node-7'/);
  });

  it("refuses a jinja template when the hostname is unknown, without quoting the data", () => {
    assert.throws(
      () => planBootstrap(KUBEADM, "cloud-config"),
      (e: unknown) => e instanceof BootstrapDataError && !e.message.includes("abcdef.0123456789abcdef"),
    );
  });

  it("plans k0s's output", () => {
    const plan = planBootstrap(K0S, undefined);
    assert.equal(plan.steps.length, 6);
    assert.equal((plan.steps[0] as FileStep).permissions, "0600");
    assert.deepEqual(plan.ignoredKeys, []);
  });

  it("refuses duplicate cloud-config keys, naming the key, instead of letting the last one win", () => {
    // k0smotron's bootstrap appends customUserData to its own document: a custom runcmd would
    // otherwise replace k0s's install and start commands.
    const data = `${K0S}runcmd:\n  - echo custom\n`;
    assert.throws(
      () => planBootstrap(data, undefined),
      (e: unknown) =>
        e instanceof BootstrapDataError &&
        e.reason === "InvalidBootstrapData" &&
        /the key "runcmd" more than once \(again at line \d+\)/.test(e.message),
    );
    // Nested too, still naming only the key.
    assert.throws(
      () => planBootstrap("#cloud-config\nwrite_files:\n  - path: /a\n    content: s3cret\n    path: /b\n", undefined),
      (e: unknown) => e instanceof BootstrapDataError && /"path"/.test(e.message) && !e.message.includes("s3cret"),
    );
  });

  it("renders the jinja variables cloud-init defines, as cloud-init names them", () => {
    const data = `## template: jinja
#cloud-config
runcmd:
  - echo {{ v1.local_hostname }} {{ local_hostname }} {{ ds.meta_data.local_hostname }} {{ds.meta_data.hostname}}
  - echo {{ v1.instance_id }} {{ instance_id }} {{ v1.cloud_name }} {{ platform }}
`;
    const plan = planBootstrap(data, undefined, { hostname: "node-7" });
    assert.deepEqual(
      plan.steps.map((s) => (s as { shell?: string }).shell),
      ["echo node-7 node-7 node-7 node-7", "echo iid-datasource-none iid-datasource-none none none"],
    );
  });

  it("leaves templates that are not jinja variables as written, as k0smotron runs k0s's data", () => {
    // k0smotron always writes the jinja header; a Helm chart's values in a k0s config are Go templates.
    const data = `## template: jinja
#cloud-config
write_files:
  - path: /etc/k0s/k0s.yaml
    content: |
      image: "{{ .Values.image }}"
      tag: {{- include "x" . -}} {{ $v }} {% raw %}
runcmd:
  - k0s install worker --token-file /etc/k0s/token
`;
    const plan = planBootstrap(data, undefined, { hostname: "h" });
    assert.equal(
      text(plan.steps[0] as FileStep),
      'image: "{{ .Values.image }}"\ntag: {{- include "x" . -}} {{ $v }} {% raw %}\n',
    );
  });

  it("refuses a jinja variable cloud-init does not define here, by name", () => {
    assert.throws(
      () =>
        planBootstrap(
          "## template: jinja\n#cloud-config\nruncmd: ['echo {{ ds.meta_data.public_ipv4 }}']\n",
          undefined,
          { hostname: "h" },
        ),
      (e: unknown) => e instanceof BootstrapDataError && /\{\{ ds\.meta_data\.public_ipv4 \}\}/.test(e.message),
    );
  });

  it("orders bootcmd, write_files, deferred write_files, runcmd", () => {
    const plan = planBootstrap(
      `#cloud-config
runcmd: [late]
write_files:
- {path: /b, content: b, defer: true}
- {path: /a, content: a}
bootcmd: [early]
packages: [curl]
`,
      "cloud-config",
    );
    assert.deepEqual(
      plan.steps.map((s) => s.name),
      ["bootcmd[0]", "write_files[1] /a", "write_files[0] /b", "runcmd[0]"],
    );
    assert.deepEqual(plan.ignoredKeys, ["packages"]);
  });

  const encodings: [string, string][] = [
    ["b64", b64("hello")],
    ["base64", b64("hello")],
    ["gz+base64", gzipSync("hello").toString("base64")],
    ["gzip+base64", gzipSync("hello").toString("base64")],
    ["gz+b64", gzipSync("hello").toString("base64")],
    ["gzip+b64", gzipSync("hello").toString("base64")],
    ["text/plain", "hello"],
  ];
  for (const [encoding, content] of encodings) {
    it(`decodes encoding ${encoding}`, () => {
      const plan = planBootstrap(
        `#cloud-config\nwrite_files:\n- {path: /f, encoding: ${JSON.stringify(encoding)}, content: ${JSON.stringify(content)}}\n`,
        "cloud-config",
      );
      assert.equal(text(plan.steps[0] as FileStep), "hello");
    });
  }

  it("reads owner, append and numeric permissions", () => {
    const plan = planBootstrap(
      "#cloud-config\nwrite_files:\n- {path: /f, content: x, owner: 'capi:capi', append: true, permissions: 0600}\n",
      "cloud-config",
    );
    const f = plan.steps[0] as FileStep;
    assert.deepEqual([f.owner, f.append, f.permissions], ["capi:capi", true, "0600"]);
  });

  it("takes list runcmd entries as argv", () => {
    const plan = planBootstrap("#cloud-config\nruncmd:\n- [echo, 'a b', 3]\n- echo $HOME\n", "cloud-config");
    assert.deepEqual(plan.steps[0], { kind: "command", name: "runcmd[0]", argv: ["echo", "a b", "3"] });
    assert.deepEqual(plan.steps[1], { kind: "command", name: "runcmd[1]", shell: "echo $HOME" });
  });

  it("runs runcmd as one script under commandsAsScript", () => {
    const plan = planBootstrap("#cloud-config\nbootcmd: [b]\nruncmd: [one, [two, 'x y']]\n", "cloud-config", {
      commandsAsScript: true,
    });
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["command", "script"],
    );
    assert.equal(plan.steps[1]?.kind === "script" && plan.steps[1].body, "#!/bin/sh\nset -e\none\n'two' 'x y'\n");
  });

  it("runs a #! payload as a script", () => {
    const plan = planBootstrap("#!/bin/bash\necho hi\n", "cloud-config");
    assert.deepEqual(plan.steps, [{ kind: "script", name: "user-data script", body: "#!/bin/bash\necho hi\n" }]);
  });

  const bad: [string, string, string | undefined, RegExp][] = [
    ["ignition", "{}", "ignition", /ignition is not supported/],
    ["an unknown format", "x", "mime-multipart", /not supported/],
    ["plain text", "hello world", "cloud-config", /neither #cloud-config nor/],
    ["broken YAML", "#cloud-config\nwrite_files: [\n", "cloud-config", /not valid YAML/],
    ["a list document", "#cloud-config\n- a\n", "cloud-config", /must be a mapping/],
    ["relative file path", "#cloud-config\nwrite_files: [{path: etc/x}]\n", undefined, /absolute/],
    ["bad base64", "#cloud-config\nwrite_files: [{path: /x, encoding: b64, content: '!!'}]\n", undefined, /base64/],
    ["bad gzip", "#cloud-config\nwrite_files: [{path: /x, encoding: gz+b64, content: aGVsbG8=}]\n", undefined, /gzip/],
    [
      "unknown encoding",
      "#cloud-config\nwrite_files: [{path: /x, encoding: rot13, content: a}]\n",
      undefined,
      /encoding/,
    ],
    ["bad permissions", "#cloud-config\nwrite_files: [{path: /x, permissions: rwx}]\n", undefined, /octal/],
    ["runcmd not a list", "#cloud-config\nruncmd: echo\n", undefined, /must be a list/],
    ["runcmd entry a mapping", "#cloud-config\nruncmd: [{a: b}]\n", undefined, /runcmd\[0\]/],
    ["unsupported jinja", "## template: jinja\n#cloud-config\nruncmd: ['{{ ds.vendor_data }}']\n", undefined, /jinja/],
  ];
  for (const [name, value, format, re] of bad) {
    it(`rejects ${name} with a typed error`, () => {
      assert.throws(
        () => planBootstrap(value, format, { hostname: "h" }),
        (e: unknown) => e instanceof BootstrapDataError && re.test(e.message),
      );
    });
  }

  it("never throws anything but BootstrapDataError (fuzz)", () => {
    const yamlish = fc.oneof(
      fc.string(),
      fc.string().map((s) => `#cloud-config\n${s}`),
      fc.jsonValue().map((v) => `#cloud-config\n${JSON.stringify({ write_files: v, runcmd: v, bootcmd: v })}`),
      fc
        .record({
          path: fc.oneof(fc.string(), fc.constant("/x")),
          content: fc.oneof(fc.string(), fc.integer()),
          encoding: fc.constantFrom("b64", "gz", "gzip+base64", "text/plain", "nope"),
          permissions: fc.oneof(fc.string(), fc.integer()),
          owner: fc.string(),
          append: fc.boolean(),
          defer: fc.boolean(),
        })
        .map((f) => `#cloud-config\nwrite_files:\n- ${JSON.stringify(f)}\n`),
      fc.string().map((s) => `## template: jinja\n#cloud-config\nruncmd: ["{{ ${s} }}"]`),
    );
    fc.assert(
      fc.property(yamlish, fc.option(fc.constantFrom("cloud-config", "ignition", "x", "")), fc.boolean(), (v, f, s) => {
        try {
          planBootstrap(v, f ?? undefined, { commandsAsScript: s, hostname: "h" });
        } catch (e) {
          if (!(e instanceof BootstrapDataError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("NUL bytes (L2)", () => {
  for (const [what, data, field] of [
    ["a runcmd line", '#cloud-config\nruncmd:\n- "echo a\\0b"\n', "runcmd[0]"],
    ["an argv word", '#cloud-config\nbootcmd:\n- [echo, "a\\0b"]\n', "bootcmd[0][1]"],
    ["a #! script", "#!/bin/sh\necho a\0b\n", "the user-data script"],
  ] as const)
    it(`in ${what}: refused, naming ${field}`, () => {
      assert.throws(
        () => planBootstrap(data, "cloud-config"),
        (e: unknown) =>
          e instanceof BootstrapDataError &&
          e.reason === "InvalidBootstrapData" &&
          e.message === `${field} has a NUL byte, which no shell command can carry`,
      );
    });
  it("in a file's content: kept (contents travel as base64)", () => {
    const plan = planBootstrap('#cloud-config\nwrite_files:\n- {path: /x, content: "a\\0b"}\n', "cloud-config");
    const f = plan.steps[0];
    assert.ok(f?.kind === "file" && Buffer.from(f.contentB64, "base64").equals(Buffer.from("a\0b")));
  });
});
