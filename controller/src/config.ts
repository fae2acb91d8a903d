/** Command-line flags and environment of the controller; `--help` prints them. */
import { parseArgs } from "node:util";
import { JOB_ALLOWANCES, type JobAllowance } from "./provisionjob/job.js";

export interface Config {
  kubeconfig?: string;
  namespace?: string;
  concurrency: number;
  maxParallelSSH: number;
  maxParallelSSHCleanup: number;
  maxParallelSSHProbe: number;
  /** Share of each SSH lane (and of the warm connections) one namespace may hold. */
  sshNamespaceShare: number;
  maxWarmSSH: number;
  healthAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  identity: string;
  poolFacts: boolean;
  /** Health checks of provisioned machines: every this many ms (0: off), each within timeoutMs. */
  healthCheck: { intervalMs: number; timeoutMs: number; maxParallel: number };
  /** Who may read /metrics: "kube" (TokenReview + SubjectAccessReview) or "none" (anyone). */
  metricsAuth: "kube" | "none";
  /** Where /metrics is served ("" when off). */
  metricsAddress: string;
  /** Over HTTPS (false: plain HTTP, for a scraper in the same Pod or local runs). */
  metricsSecure: boolean;
  /** tls.crt and tls.key for /metrics; without it a self-signed certificate is made at start. */
  metricsCertDir?: string;
  /** Refuse machines without pinned host keys instead of recording the key on first use. */
  requirePinnedHostKeys: boolean;
  /** Provision machines that ask for it through a Job (false: refuse them; no Job or Secret is created). */
  provisionJobs: boolean;
  provisionJobAllow: JobAllowance[];
  /** MiB the redaction words of the Secrets read may take, together (security/wordbudget.ts). */
  redactionWordsMiB: number;
}

const FLAGS = {
  kubeconfig: { env: "KUBECONFIG", help: "kubeconfig file; without it, in-cluster config, then ~/.kube/config" },
  namespace: { env: "CAPI_REMOTE_NAMESPACE", help: "watch only this namespace (default: all)" },
  concurrency: { env: "CAPI_REMOTE_CONCURRENCY", help: "reconciles running at once (default 50)" },
  "max-parallel-ssh": {
    env: "CAPI_REMOTE_MAX_PARALLEL_SSH",
    help: "bootstraps running at once (default 100)",
  },
  "max-parallel-ssh-cleanup": {
    env: "CAPI_REMOTE_MAX_PARALLEL_SSH_CLEANUP",
    help: "cleanups (deletes, pool releases, stopping runs) running at once, apart from bootstraps (default 50)",
  },
  "max-parallel-ssh-probe": {
    env: "CAPI_REMOTE_MAX_PARALLEL_SSH_PROBE",
    help: "probes (pool machine facts, health checks) running at once, apart from bootstraps and cleanups (default 50)",
  },
  "ssh-namespace-share": {
    env: "CAPI_REMOTE_SSH_NAMESPACE_SHARE",
    help: "share of each of these limits (and of --max-warm-ssh and --redaction-words-mib) one namespace may hold, 0 < share <= 1, rounded up; with --namespace there is one namespace, which holds them all (default 0.5; docs/security.md)",
  },
  "max-warm-ssh": {
    env: "CAPI_REMOTE_MAX_WARM_SSH",
    help: "SSH connections opened ahead of the bootstrap data, so a bootstrap starts at once when it arrives; 0 turns it off (default 100)",
  },
  "health-addr": {
    env: "CAPI_REMOTE_HEALTH_ADDR",
    help: "address of /healthz and /readyz, plain HTTP (default :8081)",
  },
  "metrics-addr": {
    env: "CAPI_REMOTE_METRICS_ADDR",
    help: "address of /metrics, HTTPS unless --metrics-secure=false; 0 turns it off (default :8443)",
  },
  "metrics-secure": {
    env: "CAPI_REMOTE_METRICS_SECURE",
    help: "serve /metrics over HTTPS: true|false (default true)",
  },
  "metrics-cert-dir": {
    env: "CAPI_REMOTE_METRICS_CERT_DIR",
    help: "directory with tls.crt and tls.key for /metrics, re-read when they change (default: a self-signed certificate made at start)",
  },
  "leader-elect": {
    env: "CAPI_REMOTE_LEADER_ELECT",
    help: "elect a leader on a Lease before working: true|false (default true)",
  },
  "leader-election-namespace": {
    env: "POD_NAMESPACE",
    help: "namespace of the Lease (default: the Pod's namespace, else capi-remote-system)",
  },
  "leader-election-id": {
    env: "CAPI_REMOTE_LEADER_ELECTION_ID",
    help: "name of the Lease (default capi-remote-controller)",
  },
  "lease-duration": { env: "CAPI_REMOTE_LEASE_DURATION", help: "seconds a leader's lease lasts (default 15)" },
  "renew-deadline": {
    env: "CAPI_REMOTE_RENEW_DEADLINE",
    help: "seconds a leader may fail to renew before it stops (default 10)",
  },
  "retry-period": { env: "CAPI_REMOTE_RETRY_PERIOD", help: "seconds between lease attempts (default 2)" },
  "log-level": { env: "CAPI_REMOTE_LOG_LEVEL", help: "debug|info|warn|error (default info)" },
  "metrics-auth": {
    env: "CAPI_REMOTE_METRICS_AUTH",
    help: "who may read /metrics: kube (a bearer token allowed to get /metrics, checked with TokenReview and SubjectAccessReview) | none (default kube)",
  },
  "redaction-words-mib": {
    env: "CAPI_REMOTE_REDACTION_WORDS_MIB",
    help: "MiB of heap the redaction words of the Secrets read may take together, of which one namespace holds at most --ssh-namespace-share; a Secret past it waits, with a condition (default 128; docs/security.md)",
  },
  "provision-jobs": {
    env: "CAPI_REMOTE_PROVISION_JOBS",
    help: "provision machines with spec.provisionJob through a Job: true|false; false refuses them and needs no rights to create Jobs or Secrets (default true; docs/security.md)",
  },
  "provision-job-allow": {
    env: "CAPI_REMOTE_PROVISION_JOB_ALLOW",
    help: "pod features a provisionJob may ask for, comma-separated: service-accounts, host-namespaces, host-path, privileged (default none; docs/security.md)",
  },
  "pool-facts": {
    env: "CAPI_REMOTE_POOL_FACTS",
    help: "read hostname, OS, CPUs and memory of pool machines over SSH: true|false (default true)",
  },
  "health-check-interval": {
    env: "CAPI_REMOTE_HEALTH_CHECK_INTERVAL",
    help: "seconds between SSH reachability checks of each provisioned machine, jittered +/-20%; a failure is confirmed by a second check before HostHealthy turns False; 0 turns them off (default 60)",
  },
  "health-check-timeout": {
    env: "CAPI_REMOTE_HEALTH_CHECK_TIMEOUT",
    help: "seconds a health check may take to connect, and again to run its command (default 10)",
  },
  "health-check-parallel": {
    env: "CAPI_REMOTE_HEALTH_CHECK_PARALLEL",
    help: "health checks running at once, in the probe lane of the SSH slots (default 10)",
  },
  "require-pinned-host-keys": {
    env: "CAPI_REMOTE_REQUIRE_PINNED_HOST_KEYS",
    help: "refuse machines without spec.hostKeys / hostKeysSecretRef (no first-use trust): true|false (default false)",
  },
} as const;

export function usage(): string {
  const lines = Object.entries(FLAGS).map(
    ([k, v]) => `  --${k.padEnd(28)} ${v.help}\n  ${" ".repeat(30)} env ${v.env}`,
  );
  return `capi-remote controller: Cluster API infrastructure provider for machines reached over SSH.

Usage: capi-remote-controller [flags]

${lines.join("\n")}
  --help                         this text

Timeouts for SSH (connect, per command, whole bootstrap) are set per machine in spec.timeouts.
`;
}

function num(v: string | undefined, def: number, name: string, min = Number.MIN_VALUE): number {
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min)
    throw new Error(`--${name} must be a ${min === 0 ? "non-negative" : "positive"} number, not ${JSON.stringify(v)}`);
  return n;
}

/** Parses argv and the environment. Throws with a readable message on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config | "help" {
  const { values: raw } = parseArgs({
    args: argv,
    options: Object.fromEntries([
      ...Object.keys(FLAGS).map((k) => [k, { type: "string" as const }]),
      ["help", { type: "boolean" as const }],
    ]),
    strict: true,
  });
  const values = raw as Record<string, string | boolean | undefined>;
  if (values.help) return "help";
  const get = (k: keyof typeof FLAGS) => (values[k] as string | undefined) ?? env[FLAGS[k].env];
  const level = (get("log-level") ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(level))
    throw new Error(`--log-level must be debug, info, warn or error`);
  const le = (get("leader-elect") ?? "true").toLowerCase();
  if (!["true", "false"].includes(le)) throw new Error("--leader-elect must be true or false");
  const facts = (get("pool-facts") ?? "true").toLowerCase();
  if (!["true", "false"].includes(facts)) throw new Error("--pool-facts must be true or false");
  const metricsAuth = (get("metrics-auth") ?? "kube").toLowerCase();
  if (metricsAuth !== "kube" && metricsAuth !== "none") throw new Error("--metrics-auth must be kube or none");
  const metricsSecure = (get("metrics-secure") ?? "true").toLowerCase();
  if (!["true", "false"].includes(metricsSecure)) throw new Error("--metrics-secure must be true or false");
  const metricsAddress = get("metrics-addr") ?? ":8443";
  const strict = (get("require-pinned-host-keys") ?? "false").toLowerCase();
  if (!["true", "false"].includes(strict)) throw new Error("--require-pinned-host-keys must be true or false");
  const allow = (get("provision-job-allow") ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  for (const a of allow)
    if (!(JOB_ALLOWANCES as readonly string[]).includes(a))
      throw new Error(`--provision-job-allow takes ${JOB_ALLOWANCES.join(", ")}, not ${JSON.stringify(a)}`);
  const jobs = (get("provision-jobs") ?? "true").toLowerCase();
  if (!["true", "false"].includes(jobs)) throw new Error("--provision-jobs must be true or false");
  const share = num(get("ssh-namespace-share"), 0.5, "ssh-namespace-share");
  if (share > 1) throw new Error(`--ssh-namespace-share must be at most 1, not ${share}`);
  return {
    provisionJobs: jobs === "true",
    redactionWordsMiB: num(get("redaction-words-mib"), 128, "redaction-words-mib"),
    provisionJobAllow: allow as JobAllowance[],
    kubeconfig: get("kubeconfig") || undefined,
    namespace: get("namespace") || undefined,
    concurrency: num(get("concurrency"), 50, "concurrency"),
    maxParallelSSH: num(get("max-parallel-ssh"), 100, "max-parallel-ssh"),
    maxParallelSSHCleanup: num(get("max-parallel-ssh-cleanup"), 50, "max-parallel-ssh-cleanup"),
    maxParallelSSHProbe: num(get("max-parallel-ssh-probe"), 50, "max-parallel-ssh-probe"),
    // Watching one namespace, a share would only leave the rest of each limit unused.
    sshNamespaceShare: get("namespace") ? 1 : share,
    maxWarmSSH: num(get("max-warm-ssh"), 100, "max-warm-ssh", 0),
    healthAddress: get("health-addr") ?? ":8081",
    leaderElect: le === "true",
    leaderElectionNamespace: get("leader-election-namespace") ?? "capi-remote-system",
    leaderElectionId: get("leader-election-id") ?? "capi-remote-controller",
    leaseDurationMs: num(get("lease-duration"), 15, "lease-duration") * 1000,
    renewDeadlineMs: num(get("renew-deadline"), 10, "renew-deadline") * 1000,
    retryPeriodMs: num(get("retry-period"), 2, "retry-period") * 1000,
    logLevel: level,
    identity: `${env.POD_NAME ?? env.HOSTNAME ?? "capi-remote"}_${process.pid}`,
    poolFacts: facts === "true",
    healthCheck: {
      intervalMs: num(get("health-check-interval"), 60, "health-check-interval", 0) * 1000,
      timeoutMs: num(get("health-check-timeout"), 10, "health-check-timeout") * 1000,
      maxParallel: Math.floor(num(get("health-check-parallel"), 10, "health-check-parallel", 1)),
    },
    metricsAuth,
    metricsAddress: metricsAddress === "0" ? "" : metricsAddress,
    metricsSecure: metricsSecure === "true",
    metricsCertDir: get("metrics-cert-dir") || undefined,
    requirePinnedHostKeys: strict === "true",
  };
}
