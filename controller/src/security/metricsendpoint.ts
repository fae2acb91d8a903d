/**
 * /metrics as the flags ask for it: HTTPS with the mounted or a self-signed certificate (renewals
 * picked up), TokenReview + SubjectAccessReview unless --metrics-auth=none, or off.
 */
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import { serveMetrics } from "../runtime/http.js";
import type { Logger } from "../runtime/log.js";
import { metricsAuthorizer, type ReviewApi } from "./metricsauth.js";
import { metricsCertificate, watchCertDir } from "./metricscert.js";

export async function startMetricsEndpoint(
  cfg: Pick<Config, "metricsAddress" | "metricsSecure" | "metricsCertDir" | "metricsAuth">,
  api: ReviewApi,
  registry: Registry,
  log: Logger,
): Promise<{ close: () => void; tls: string }> {
  if (!cfg.metricsAddress) return { close: () => {}, tls: "none" };
  const cert = cfg.metricsSecure ? await metricsCertificate(cfg.metricsCertDir, [hostname()]) : undefined;
  const endpoint = await serveMetrics({
    address: cfg.metricsAddress,
    registry,
    ...(cfg.metricsAuth === "kube" ? { authorize: metricsAuthorizer(api) } : {}),
    ...(cert ? { tls: cert } : {}),
  });
  const stopWatch =
    cert && cfg.metricsCertDir
      ? watchCertDir(
          cfg.metricsCertDir,
          (c) => {
            endpoint.setTls(c);
            log.info("metrics certificate reloaded", { from: c.source });
          },
          (e) => log.warn("could not reload the metrics certificate; the current one stays", { err: e }),
        )
      : () => {};
  return {
    close: () => {
      stopWatch();
      endpoint.server.close();
    },
    tls: cert?.source ?? "none",
  };
}
