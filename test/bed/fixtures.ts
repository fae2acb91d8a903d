/**
 * Test fixtures: SSH key pairs made with ssh-keygen (ed25519 and ECDSA in OpenSSH format, RSA in
 * PEM, one ed25519 encrypted with a passphrase), and the Secrets that carry them and bootstrap data.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { execFileAsync, scratchDir } from "./util.js";

export interface KeyPair {
  name: string;
  /** Private key text as it goes into a Secret's `value`. */
  privateKey: string;
  /** `ssh-... AAAA... comment` */
  publicKey: string;
  passphrase?: string;
}

export type KeyKind = "ed25519" | "rsa-pem" | "ecdsa" | "ed25519-encrypted";

/** Generates a key pair of the given kind. */
export async function makeKeyPair(kind: KeyKind, name: string = kind): Promise<KeyPair> {
  const dir = scratchDir("key-");
  const file = join(dir, "id");
  const passphrase = kind === "ed25519-encrypted" ? "correct horse battery staple" : undefined;
  const args = ["-q", "-C", `capi-remote-test-${name}`, "-f", file, "-N", passphrase ?? ""];
  if (kind === "rsa-pem") args.push("-t", "rsa", "-b", "2048", "-m", "PEM");
  else if (kind === "ecdsa") args.push("-t", "ecdsa", "-b", "256");
  else args.push("-t", "ed25519");
  let privateKey: string;
  let publicKey: string;
  try {
    await execFileAsync("ssh-keygen", args);
    [privateKey, publicKey] = await Promise.all([readFile(file, "utf8"), readFile(`${file}.pub`, "utf8")]);
  } finally {
    // The pair lives in memory from here; no private key is left in /tmp.
    await rm(dir, { recursive: true, force: true });
  }
  return { name, privateKey, publicKey: publicKey.trim(), ...(passphrase ? { passphrase } : {}) };
}

/** The Secret k0smotron's manifests reference: key `value` holds the private key. */
export function sshKeySecret(namespace: string, name: string, key: KeyPair) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    stringData: { value: key.privateKey, ...(key.passphrase ? { passphrase: key.passphrase } : {}) },
  };
}

/** A bootstrap-data Secret as Cluster API bootstrap providers write it. */
export function bootstrapSecret(namespace: string, name: string, value: string, format = "cloud-config") {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace, labels: { "cluster.x-k8s.io/cluster-name": "test" } },
    type: "cluster.x-k8s.io/secret",
    stringData: { value, format },
  };
}
