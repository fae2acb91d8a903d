/**
 * The controller's endpoints: /healthz and /readyz on plain HTTP (the kubelet probes them), and
 * Prometheus /metrics on a port of its own over HTTPS, as Cluster API's providers serve theirs
 * (controller-runtime's secure metrics serving): a scraper's bearer token never crosses the Pod
 * network in clear text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Registry } from "prom-client";

/** host:port, :port or port (all addresses). */
function listenOn(server: Server, address: string): Promise<Server> {
  const colon = address.lastIndexOf(":");
  const [host, portText] = colon >= 0 ? [address.slice(0, colon), address.slice(colon + 1)] : ["", address];
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(portText), host || "0.0.0.0", () => resolve(server));
  });
}

export function serveHealth(
  address: string,
  checks: { healthy: () => boolean; ready: () => boolean },
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      const ok = checks.healthy();
      res.writeHead(ok ? 200 : 500, { "content-type": "text/plain" }).end(ok ? "ok" : "unhealthy");
    } else if (path === "/readyz") {
      const ok = checks.ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok" : "not ready");
    } else {
      res.writeHead(404).end();
    }
  });
  return listenOn(server, address);
}

export interface MetricsServing {
  address: string;
  registry: Registry;
  /** Who may read /metrics (see security/metricsauth.ts); without it, anyone (--metrics-auth=none). */
  authorize?: (authorization: string | undefined) => Promise<{ code: number; message?: string }>;
  /** PEM certificate and key: HTTPS; without them, plain HTTP (--metrics-secure=false). */
  tls?: { cert: string; key: string };
}

/** Serves /metrics; `setTls` replaces the certificate of an HTTPS server (a rotated Secret). */
export async function serveMetrics(
  o: MetricsServing,
): Promise<{ server: Server; setTls: (t: { cert: string; key: string }) => void }> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    const allowed = o.authorize ? o.authorize(req.headers.authorization) : Promise.resolve({ code: 200 });
    allowed
      .then(async (a: { code: number; message?: string }) => {
        if (a.code !== 200) {
          res.writeHead(a.code, { "content-type": "text/plain" }).end(a.message ?? "");
          return;
        }
        const text = await o.registry.metrics();
        res.writeHead(200, { "content-type": o.registry.contentType }).end(text);
      })
      .catch(() => res.writeHead(500).end());
  };
  if (!o.tls) return { server: await listenOn(createServer(handler), o.address), setTls: () => {} };
  const server = createHttpsServer({ cert: o.tls.cert, key: o.tls.key, minVersion: "TLSv1.2" }, handler);
  await listenOn(server, o.address);
  return { server, setTls: (t) => server.setSecureContext({ cert: t.cert, key: t.key, minVersion: "TLSv1.2" }) };
}
