/** The health and metrics endpoints: /healthz, /readyz and Prometheus /metrics. */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export function serveHealth(
  address: string,
  checks: { healthy: () => boolean; ready: () => boolean },
  registry?: Registry,
  /** Who may read /metrics (see security/metricsauth.ts); without it, anyone (--metrics-auth=none). */
  authorize?: (authorization: string | undefined) => Promise<{ code: number; message?: string }>,
): Promise<Server> {
  const [host, portText] = address.includes(":")
    ? [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)]
    : ["0.0.0.0", address];
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      const ok = checks.healthy();
      res.writeHead(ok ? 200 : 500, { "content-type": "text/plain" }).end(ok ? "ok" : "unhealthy");
    } else if (path === "/readyz") {
      const ok = checks.ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok" : "not ready");
    } else if (path === "/metrics" && registry) {
      const allowed: Promise<{ code: number; message?: string }> = authorize
        ? authorize(req.headers.authorization)
        : Promise.resolve({ code: 200 });
      allowed
        .then(async (a) => {
          if (a.code !== 200) {
            res.writeHead(a.code, { "content-type": "text/plain" }).end(a.message ?? "");
            return;
          }
          const text = await registry.metrics();
          res.writeHead(200, { "content-type": registry.contentType }).end(text);
        })
        .catch(() => res.writeHead(500).end());
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(portText), host || "0.0.0.0", () => resolve(server));
  });
}
