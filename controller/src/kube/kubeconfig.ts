/**
 * Workload-cluster kubeconfigs come from `<cluster>-kubeconfig` Secrets, which anyone who can
 * write Secrets in a tenant namespace can write. client-node's KubeConfig would run their `exec`
 * plugins, read `tokenFile` and `*-file` paths of the controller's file system and follow
 * `proxy-url`; so such a Secret never reaches KubeConfig. It is parsed here (with `yaml`, aliases
 * refused, sizes bounded), and only what a Cluster API kubeconfig Secret holds is accepted: an
 * https server, an inline CA, and an inline client certificate and key or an inline token. The
 * client config is then built from those validated fields alone.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { parseDocument } from "yaml";

/** What capi-remote uses of a workload cluster's kubeconfig. */
export interface WorkloadAccess {
  server: string;
  /** PEM of the CA bundle (decoded certificate-authority-data). */
  caData: string;
  tlsServerName?: string;
  auth: { certData: string; keyData: string } | { token: string };
}

export type KubeconfigCheck =
  | { ok: true; access: WorkloadAccess }
  | {
      ok: false;
      /** UnsafeKubeconfig: a field that would execute, read files or weaken TLS; InvalidKubeconfig: malformed. */
      reason: "UnsafeKubeconfig" | "InvalidKubeconfig";
      /** The offending field, as a path into the kubeconfig (e.g. `users[0].user.exec`). */
      field: string;
      message: string;
    };

/** The largest kubeconfig accepted (a Secret holds at most 1 MiB). */
export const MAX_KUBECONFIG_BYTES = 1024 * 1024;
/** The largest inline value (CA bundle, certificate, key, token) accepted, decoded. */
export const MAX_KUBECONFIG_VALUE_BYTES = 64 * 1024;

/** Cluster fields that are safe and used; everything else in the chosen cluster is refused. */
const CLUSTER_FIELDS = new Set(["server", "certificate-authority-data", "tls-server-name", "insecure-skip-tls-verify"]);
/** User fields that are safe and used. */
const USER_FIELDS = new Set(["client-certificate-data", "client-key-data", "token"]);
/** Fields refused with a reason of their own (they execute, read files or weaken TLS). */
const WHY: Record<string, string> = {
  exec: "runs a command in the controller",
  "auth-provider": "runs an auth provider plugin or reads files in the controller",
  tokenFile: "reads a file of the controller",
  "client-certificate": "reads a file of the controller",
  "client-key": "reads a file of the controller",
  "certificate-authority": "reads a file of the controller",
  "proxy-url": "sends the controller's requests through a proxy",
  "insecure-skip-tls-verify": "turns off TLS verification",
  username: "basic authentication is not what a Cluster API kubeconfig holds",
  password: "basic authentication is not what a Cluster API kubeconfig holds",
  as: "impersonation is not what a Cluster API kubeconfig holds",
  "as-uid": "impersonation is not what a Cluster API kubeconfig holds",
  "as-groups": "impersonation is not what a Cluster API kubeconfig holds",
  "as-user-extra": "impersonation is not what a Cluster API kubeconfig holds",
};
const ACCEPTED =
  "accepted: an https server, certificate-authority-data, and client-certificate-data with client-key-data or a token";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function refuse(reason: "UnsafeKubeconfig" | "InvalidKubeconfig", field: string, message: string): KubeconfigCheck {
  return { ok: false, reason, field, message: `${field}: ${message}` };
}

/** The named entry of a kubeconfig list (`clusters`, `users`, `contexts`) and its path. */
function entry(doc: Obj, list: string, name: string, inner: string): { value: Obj; path: string } | string {
  const items = doc[list];
  if (!Array.isArray(items)) return `${list} is missing`;
  const i = items.findIndex((e) => isObj(e) && e.name === name);
  if (i < 0) return `${list} has no entry named ${JSON.stringify(name).slice(0, 260)}`;
  const value = (items[i] as Obj)[inner];
  if (!isObj(value)) return `${list}[${i}].${inner} is missing`;
  return { value, path: `${list}[${i}].${inner}` };
}

/** A base64 inline value, decoded; undefined when absent, a message when invalid. */
function inlineData(v: unknown, field: string): { text?: string; error?: string } {
  if (v === undefined || v === null || v === "") return {};
  if (typeof v !== "string") return { error: `${field} is not a string` };
  const compact = v.replace(/\s+/g, "");
  if (compact.length > (MAX_KUBECONFIG_VALUE_BYTES * 4) / 3 + 4)
    return { error: `${field} is longer than ${MAX_KUBECONFIG_VALUE_BYTES} bytes` };
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return { error: `${field} is not base64` };
  return { text: Buffer.from(compact, "base64").toString("utf8") };
}

/**
 * Checks a workload kubeconfig without executing or reading anything: only the current
 * context's cluster and user are looked at, and each of their fields must be one a Cluster API
 * kubeconfig Secret holds.
 */
export function checkWorkloadKubeconfig(text: string): KubeconfigCheck {
  if (Buffer.byteLength(text, "utf8") > MAX_KUBECONFIG_BYTES)
    return refuse("InvalidKubeconfig", "value", `longer than ${MAX_KUBECONFIG_BYTES} bytes`);
  let parsed: unknown;
  try {
    // No aliases at all (a Cluster API kubeconfig has none; they are the alias-bomb vector).
    const d = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    if (d.errors.length) return refuse("InvalidKubeconfig", "value", `not YAML: ${d.errors[0]?.message.slice(0, 200)}`);
    parsed = d.toJS({ maxAliasCount: 0 });
  } catch (e) {
    return refuse("InvalidKubeconfig", "value", `not YAML: ${String((e as Error).message).slice(0, 200)}`);
  }
  if (!isObj(parsed)) return refuse("InvalidKubeconfig", "value", "not a kubeconfig (a YAML mapping)");
  const current = parsed["current-context"];
  if (typeof current !== "string" || !current) return refuse("InvalidKubeconfig", "current-context", "missing");
  const ctx = entry(parsed, "contexts", current, "context");
  if (typeof ctx === "string") return refuse("InvalidKubeconfig", "contexts", ctx);
  const clusterName = ctx.value.cluster;
  const userName = ctx.value.user;
  if (typeof clusterName !== "string") return refuse("InvalidKubeconfig", `${ctx.path}.cluster`, "missing");
  if (typeof userName !== "string") return refuse("InvalidKubeconfig", `${ctx.path}.user`, "missing");
  for (const k of Object.keys(ctx.value)) {
    if (k === "proxy-url" || k === "exec") return refuse("UnsafeKubeconfig", `${ctx.path}.${k}`, `not accepted`);
  }
  const cluster = entry(parsed, "clusters", clusterName, "cluster");
  if (typeof cluster === "string") return refuse("InvalidKubeconfig", "clusters", cluster);
  const user = entry(parsed, "users", userName, "user");
  if (typeof user === "string") return refuse("InvalidKubeconfig", "users", user);

  for (const [k, v] of Object.entries(cluster.value)) {
    const f = `${cluster.path}.${k}`;
    if (k === "insecure-skip-tls-verify" && v !== true) continue;
    if (k === "extensions") continue; // metadata only, never interpreted
    if (!CLUSTER_FIELDS.has(k) || k === "insecure-skip-tls-verify")
      return refuse(
        "UnsafeKubeconfig",
        f,
        `not accepted (${WHY[k] ?? "not a field of a Cluster API kubeconfig"}); ${ACCEPTED}`,
      );
  }
  for (const k of Object.keys(user.value)) {
    const f = `${user.path}.${k}`;
    if (!USER_FIELDS.has(k))
      return refuse(
        "UnsafeKubeconfig",
        f,
        `not accepted (${WHY[k] ?? "not a field of a Cluster API kubeconfig"}); ${ACCEPTED}`,
      );
  }

  const serverField = `${cluster.path}.server`;
  const server = cluster.value.server;
  if (typeof server !== "string" || !server) return refuse("InvalidKubeconfig", serverField, "missing");
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return refuse("InvalidKubeconfig", serverField, "not a URL");
  }
  if (url.protocol !== "https:") return refuse("UnsafeKubeconfig", serverField, `must be https (is ${url.protocol})`);
  if (url.username || url.password) return refuse("UnsafeKubeconfig", serverField, "must not carry credentials");
  if (url.search || url.hash) return refuse("InvalidKubeconfig", serverField, "must not have a query or fragment");

  const caField = `${cluster.path}.certificate-authority-data`;
  const ca = inlineData(cluster.value["certificate-authority-data"], caField);
  if (ca.error) return refuse("InvalidKubeconfig", caField, ca.error);
  if (!ca.text?.includes("-----BEGIN CERTIFICATE-----"))
    return refuse("InvalidKubeconfig", caField, "missing or not a PEM certificate (the server must be verified)");
  const tlsServerName = cluster.value["tls-server-name"];
  if (tlsServerName !== undefined && (typeof tlsServerName !== "string" || tlsServerName.length > 253))
    return refuse("InvalidKubeconfig", `${cluster.path}.tls-server-name`, "not a host name");

  const certField = `${user.path}.client-certificate-data`;
  const keyField = `${user.path}.client-key-data`;
  const cert = inlineData(user.value["client-certificate-data"], certField);
  if (cert.error) return refuse("InvalidKubeconfig", certField, cert.error);
  const key = inlineData(user.value["client-key-data"], keyField);
  if (key.error) return refuse("InvalidKubeconfig", keyField, key.error);
  const token = user.value.token;
  const tokenField = `${user.path}.token`;
  if (
    token !== undefined &&
    (typeof token !== "string" || token.length > MAX_KUBECONFIG_VALUE_BYTES || /[\r\n]/.test(token))
  )
    return refuse(
      "InvalidKubeconfig",
      tokenField,
      `not a single-line string of at most ${MAX_KUBECONFIG_VALUE_BYTES} bytes`,
    );

  const base = {
    server: url.toString().replace(/\/$/, ""),
    caData: ca.text,
    ...(typeof tlsServerName === "string" && tlsServerName ? { tlsServerName } : {}),
  };
  if (cert.text && key.text) return { ok: true, access: { ...base, auth: { certData: cert.text, keyData: key.text } } };
  if (cert.text || key.text)
    return refuse(
      "InvalidKubeconfig",
      cert.text ? keyField : certField,
      "a client certificate needs its key and a key its certificate",
    );
  if (typeof token === "string" && token) return { ok: true, access: { ...base, auth: { token } } };
  return refuse("InvalidKubeconfig", user.path, `no credentials; ${ACCEPTED}`);
}

/**
 * A KubeConfig built from validated fields only: no exec, no auth provider, no file paths, no
 * proxy, TLS verified against the inline CA.
 */
export function kubeConfigOf(access: WorkloadAccess): KubeConfig {
  const kc = new KubeConfig();
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  kc.loadFromOptions({
    clusters: [
      {
        name: "workload",
        server: access.server,
        caData: b64(access.caData),
        skipTLSVerify: false,
        ...(access.tlsServerName ? { tlsServerName: access.tlsServerName } : {}),
      },
    ],
    users: [
      "token" in access.auth
        ? { name: "workload", token: access.auth.token }
        : { name: "workload", certData: b64(access.auth.certData), keyData: b64(access.auth.keyData) },
    ],
    contexts: [{ name: "workload", cluster: "workload", user: "workload" }],
    currentContext: "workload",
  });
  return kc;
}
