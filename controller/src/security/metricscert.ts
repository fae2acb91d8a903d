/**
 * The certificate /metrics is served with: tls.crt and tls.key from a directory (a cert-manager
 * Certificate's Secret mounted there, re-read when it is renewed), or, without one, a self-signed
 * certificate made at start, as controller-runtime does for Cluster API's providers. Scrapers
 * then either trust the mounted certificate's CA or skip verification (`insecure_skip_verify`,
 * as with controller-runtime's default); either way the bearer token travels encrypted.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import selfsigned from "selfsigned";

export interface ServingCert {
  cert: string;
  key: string;
  /** Where it came from: "self-signed" or the directory. */
  source: string;
}

/** Reads and checks tls.crt/tls.key (a pair that does not match is refused with a clear error). */
export async function readCertDir(dir: string): Promise<ServingCert> {
  const [cert, key] = await Promise.all([
    readFile(join(dir, "tls.crt"), "utf8"),
    readFile(join(dir, "tls.key"), "utf8"),
  ]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`${join(dir, "tls.crt")}: not a PEM certificate`, { cause: e });
  }
  if (!x509.checkPrivateKey(createPrivateKey(key)))
    throw new Error(`${join(dir, "tls.key")} is not the key of ${join(dir, "tls.crt")}`);
  return { cert, key, source: dir };
}

/** A self-signed ECDSA P-256 certificate for the Pod's names, valid for a year. */
export async function selfSignedCert(hostnames: string[]): Promise<ServingCert> {
  const now = new Date();
  const pems = await selfsigned.generate([{ name: "commonName", value: hostnames[0] ?? "capi-remote-metrics" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [...hostnames.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: "127.0.0.1" }],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, source: "self-signed" };
}

/** The certificate to start with: the directory's, or a self-signed one for `hostnames`. */
export function metricsCertificate(dir: string | undefined, hostnames: string[]): Promise<ServingCert> {
  return dir ? readCertDir(dir) : selfSignedCert(hostnames);
}

/**
 * Calls `onChange` with the directory's new pair when tls.crt or tls.key changes (checked every
 * `everyMs`; a Secret volume swaps both through a symlink, so a change of either is seen). A
 * pair that fails to load is reported and the old one kept.
 */
export function watchCertDir(
  dir: string,
  onChange: (c: ServingCert) => void,
  onError: (e: unknown) => void,
  everyMs = 60_000,
): () => void {
  let last = "";
  const stamp = async () => {
    const [a, b] = await Promise.all([stat(join(dir, "tls.crt")), stat(join(dir, "tls.key"))]);
    return `${a.mtimeMs}:${a.ino}:${b.mtimeMs}:${b.ino}`;
  };
  void stamp().then(
    (s) => {
      last = s;
    },
    () => {},
  );
  const timer = setInterval(() => {
    stamp()
      .then(async (s) => {
        if (s === last) return;
        const c = await readCertDir(dir);
        last = s;
        onChange(c);
      })
      .catch(onError);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
