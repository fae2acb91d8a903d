/** Prometheus metrics of the controller (prom-client). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function makeMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "capi_remote_" });
  const m = {
    registry,
    reconciles: new Counter({
      name: "capi_remote_reconcile_total",
      help: "Reconciles by controller and result (success, error, requeue).",
      labelNames: ["controller", "result"],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "capi_remote_reconcile_errors_total",
      help: "Reconciles that ended in an error, by controller.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "capi_remote_reconcile_duration_seconds",
      help: "Time one reconcile took, by controller.",
      labelNames: ["controller"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "capi_remote_workqueue_depth",
      help: "Keys waiting in the work queue, by controller.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    sshSessions: new Gauge({
      name: "capi_remote_ssh_sessions",
      help: "Open SSH connections.",
      registers: [registry],
    }),
    bootstraps: new Counter({
      name: "capi_remote_bootstrap_total",
      help: "Bootstraps finished, by outcome.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    bootstrapDuration: new Histogram({
      name: "capi_remote_bootstrap_duration_seconds",
      help: "Time from starting a bootstrap to its end, by outcome.",
      labelNames: ["outcome"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    secretCopies: new Gauge({
      name: "capi_remote_secret_copies",
      help: "Secrets held with their data: those machines named and the controller read.",
      registers: [registry],
    }),
    secretCopyBytes: new Gauge({
      name: "capi_remote_secret_copy_bytes",
      help: "Bytes of data (base64) the Secrets held with their data carry together.",
      registers: [registry],
    }),
    redactionWordBytes: new Gauge({
      name: "capi_remote_redaction_word_bytes",
      help: "Heap the redaction words of the Secrets read take, as the controller weighs them (security/wordbudget.ts).",
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: "capi_remote_api_requests_total",
      help: "Requests to the API server, by verb, resource and HTTP status code (0: no answer).",
      labelNames: ["verb", "resource", "code"],
      registers: [registry],
    }),
  };
  return m;
}
export type Metrics = ReturnType<typeof makeMetrics>;
