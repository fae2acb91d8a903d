/** Reading a controller's /metrics over HTTPS, as a scraper does. */
import { request } from "node:https";
import type { TLSSocket } from "node:tls";

/**
 * GET /metrics on 127.0.0.1:`port`. With `ca`, the server's certificate is verified against it;
 * without, it is not (the controller's default certificate is self-signed, made at start, as
 * controller-runtime's is). `issuer` and `subject` (common names) say what the server presented.
 * A connection of its own each time, so a renewed certificate is seen at once.
 */
export function getMetrics(
  port: number,
  o: { token?: string; ca?: string } = {},
): Promise<{ status: number; text: string; issuer: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/metrics",
        ...(o.ca ? { ca: o.ca } : { rejectUnauthorized: false }),
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        agent: false,
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        const cn = (n: { CN?: string | string[] } | undefined) => [n?.CN ?? ""].flat().join(",");
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text, issuer: cn(cert.issuer), subject: cn(cert.subject) }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}
