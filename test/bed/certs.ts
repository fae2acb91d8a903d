/** Test certificates made with the openssl CLI: a CA and serving certificates signed by it. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFileAsync } from "./util.js";

export interface CertPaths {
  cert: string;
  key: string;
}

/** Creates `ca.crt`/`ca.key` in `dir`. */
export async function makeCA(dir: string, cn = "capi-remote-testbed-ca"): Promise<CertPaths> {
  const cert = join(dir, "ca.crt");
  const key = join(dir, "ca.key");
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "3650",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/** Creates `<name>.crt`/`<name>.key` in `dir`: a new EC key with subject `subj`, signed by `ca` with extensions `ext`. */
async function signedCert(
  dir: string,
  name: string,
  ca: CertPaths,
  subj: string,
  extensions: string,
): Promise<CertPaths> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await execFileAsync("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    subj,
  ]);
  await execFileAsync("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "3650",
    "-extfile",
    ext,
  ]);
  return { cert, key };
}

/** Creates `<name>.crt`/`<name>.key` in `dir`, signed by `ca`, valid for the given names and IPs. */
export async function makeServingCert(
  dir: string,
  name: string,
  ca: CertPaths,
  sans: { dns?: string[]; ips?: string[] },
): Promise<CertPaths> {
  const alt = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((i) => `IP:${i}`)].join(",");
  return signedCert(
    dir,
    name,
    ca,
    `/CN=${name}`,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${alt}\n`,
  );
}

/** An RSA key pair for signing service-account tokens. */
export async function makeServiceAccountKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = join(dir, "sa.key");
  const pub = join(dir, "sa.pub");
  await execFileAsync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]);
  await execFileAsync("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
  return { key, pub };
}

/** Creates `<name>.crt`/`<name>.key` in `dir`: a client certificate for user `cn` in `groups`. */
export async function makeClientCert(
  dir: string,
  name: string,
  ca: CertPaths,
  cn: string,
  groups: string[],
): Promise<CertPaths> {
  return signedCert(
    dir,
    name,
    ca,
    `/CN=${cn}${groups.map((g) => `/O=${g}`).join("")}`,
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
  );
}
