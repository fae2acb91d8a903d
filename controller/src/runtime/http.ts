/** The health and metrics endpoints: /healthz, /readyz and Prometheus /metrics. */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export function serveHealth(
  address: string,
  checks: { healthy: () => boolean; ready: () => boolean },
  registry?: Registry,
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
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(portText), host || "0.0.0.0", () => resolve(server));
  });
}
