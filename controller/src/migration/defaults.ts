/**
 * k0smotron's defaults for values its Go clients write as zero values. The CRD fills defaults
 * only for absent fields, but a Go struct without `omitempty` writes `port: 0` and `user: ""`
 * (k0smotron's PooledMachineSpec does), and YAML written by hand carries `pool: ""` or
 * `sshKeyRef: {name: ""}`. k0smotron reads those as unset; so does capi-remote, through this
 * one function applied where a spec is read (docs/migration.md). Pure.
 */
import { DEFAULT_SSH_PORT, DEFAULT_SSH_USER, DEFAULT_WORKING_DIR } from "@capi-remote/shared";

interface ConnectionLike {
  address?: string;
  port?: number;
  user?: string;
  workingDir?: string;
  pool?: string;
  providerID?: string;
  sshKeyRef?: { name: string };
  cleanUpCommands?: string[];
  customCleanUpCommands?: string[];
}

/** A copy of `spec` with zero values read as k0smotron reads them (the defaults, or unset). */
export function withK0smotronDefaults<T extends ConnectionLike>(spec: T): T {
  const zero =
    spec.port === 0 ||
    spec.user === "" ||
    spec.workingDir === "" ||
    spec.pool === "" ||
    spec.address === "" ||
    spec.providerID === "" ||
    spec.sshKeyRef?.name === "" ||
    spec.cleanUpCommands?.includes("") ||
    spec.customCleanUpCommands?.includes("");
  if (!zero) return spec;
  const out: T = { ...spec };
  if (out.port === 0) out.port = DEFAULT_SSH_PORT;
  if (out.user === "") out.user = DEFAULT_SSH_USER;
  if (out.workingDir === "") out.workingDir = DEFAULT_WORKING_DIR;
  if (out.pool === "") delete out.pool;
  if (out.address === "") delete out.address;
  if (out.providerID === "") delete out.providerID;
  if (out.sshKeyRef?.name === "") delete out.sshKeyRef;
  // An empty command does nothing; k0smotron sends it to the shell, which does nothing either.
  if (out.cleanUpCommands) out.cleanUpCommands = out.cleanUpCommands.filter((c) => c !== "");
  if (out.customCleanUpCommands) out.customCleanUpCommands = out.customCleanUpCommands.filter((c) => c !== "");
  return out;
}

/** The object with its spec read through withK0smotronDefaults (the same object when nothing changes). */
export function withSpecDefaults<O extends { spec: ConnectionLike }>(o: O): O {
  const spec = withK0smotronDefaults(o.spec);
  return spec === o.spec ? o : { ...o, spec };
}
