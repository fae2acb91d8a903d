/**
 * Pool logic both the controller and the Lens extension need: who holds a pool machine, what
 * phase it is in, whether it may be handed out, label selectors, pool counts and whether a
 * pool's machines are alike (for the autoscaler). Pure functions over plain objects.
 */
import { isProvisioned, PoolAnnotations, quarantineOf, RemoteAnnotations, returningAfterOf } from "./contract.js";
import type { MachineFacts, PoolCounts, PooledRemoteMachine, PoolPhase, RemoteMachine } from "./models/remote.js";

export interface LabelSelectorLike {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** metav1.LabelSelector semantics: every matchLabels entry and every expression must hold. */
export function matchesSelector(labels: Record<string, string> | undefined, sel: LabelSelectorLike | undefined) {
  if (!sel) return true;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const inValues = has && (e.values ?? []).includes(l[e.key] as string);
    if (e.operator === "In" && !inValues) return false;
    if (e.operator === "NotIn" && inValues) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/**
 * k0smotron's reservation of a pool machine, when it is the only record of a claim (a machine
 * reserved before capi-remote took over; see docs/migration.md): k0smotron keeps it in
 * `status.reserved` + `status.machineRef` only. capi-remote's own status always carries `phase`,
 * which k0smotron's status type does not have, so a reservation without a claim annotation and
 * without `phase` is k0smotron's.
 */
export function legacyReservation(
  prm: Pick<PooledRemoteMachine, "metadata"> & { status?: PooledRemoteMachine["status"] },
): { name: string; namespace: string } | undefined {
  if (prm.metadata.annotations?.[PoolAnnotations.ClaimedBy]) return undefined;
  const st = prm.status;
  if (st?.reserved !== true || !st.machineRef?.name || st.phase !== undefined) return undefined;
  return { name: st.machineRef.name, namespace: st.machineRef.namespace || (prm.metadata.namespace ?? "") };
}

/** The RemoteMachine name a pool machine is claimed by, if any (k0smotron's reservation counts). */
export function claimantName(
  prm: Pick<PooledRemoteMachine, "metadata"> & { status?: PooledRemoteMachine["status"] },
): string | undefined {
  const v = prm.metadata.annotations?.[PoolAnnotations.ClaimedBy];
  if (v) return v;
  const legacy = legacyReservation(prm);
  return legacy && legacy.namespace === prm.metadata.namespace ? legacy.name : undefined;
}

/**
 * Whether `rm` is the holder of `prm`'s claim. The claim names the RemoteMachine; it is that
 * object when the UID matches, or when the RemoteMachine itself names this pool machine (a
 * `clusterctl move` recreates objects with new UIDs but keeps annotations). A RemoteMachine of
 * the same name created later, which never claimed this machine, is not the holder; nor is a
 * RemoteMachine that names another pool machine (a duplicate claim left by a leader change).
 */
export function holds(
  rm: Pick<RemoteMachine, "metadata"> | undefined,
  prm: Pick<PooledRemoteMachine, "metadata"> & { status?: PooledRemoteMachine["status"] },
): boolean {
  if (!rm || claimantName(prm) !== rm.metadata.name) return false;
  if (rm.metadata.namespace !== prm.metadata.namespace) return false;
  const named = rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
  // The RemoteMachine committed to another pool machine: this claim is a leftover duplicate.
  if (named) return named === prm.metadata.name;
  // k0smotron's reservation names the RemoteMachine only (it matched by name, as this does until
  // the reservation is adopted and the UID recorded).
  if (legacyReservation(prm)) return true;
  const uid = prm.metadata.annotations?.[PoolAnnotations.ClaimedByUID];
  return !!uid && uid === rm.metadata.uid;
}

/** The phase of a pool machine, given the RemoteMachine its claim names (if it exists). */
export function poolPhaseOf(
  prm: Pick<PooledRemoteMachine, "metadata" | "spec"> & { status?: PooledRemoteMachine["status"] },
  claimant: Pick<RemoteMachine, "metadata" | "spec" | "status"> | undefined,
): PoolPhase {
  if (quarantineOf(prm.metadata.annotations)) return "Quarantined";
  if (claimantName(prm)) {
    if (!claimant || !holds(claimant, prm)) return "Claimed";
    if (claimant.metadata.deletionTimestamp) return "Cleaning";
    if (isProvisioned(claimant.status) || claimant.spec.providerID) return "InUse";
    if (claimant.status?.bootstrap?.phase === "Failed") return "Failed";
    if (claimant.metadata.annotations?.[RemoteAnnotations.BootstrapStarted]) return "Provisioning";
    return "Claimed";
  }
  // Cleaned; back once Cluster API has deleted the old Machine (and with it the old Node).
  if (returningAfterOf(prm.metadata.annotations)) return "Cleaning";
  if (prm.spec.cordoned) return "Cordoned";
  return "Available";
}

/** True when the machine may be handed out to a RemoteMachine of `pool` with `selector`. */
export function isClaimable(prm: PooledRemoteMachine, pool: string, selector?: LabelSelectorLike): boolean {
  return (
    prm.spec.pool === pool &&
    !prm.metadata.deletionTimestamp &&
    !claimantName(prm) &&
    !!prm.spec.machine.address &&
    !prm.spec.cordoned &&
    !quarantineOf(prm.metadata.annotations) &&
    !returningAfterOf(prm.metadata.annotations) &&
    matchesSelector(prm.metadata.labels, selector)
  );
}

/** Counts by phase. `cordoned` counts every cordoned machine, whatever else it is doing. */
export function countPool(
  machines: { phase: PoolPhase; cordoned?: boolean | undefined }[],
): Required<Omit<PoolCounts, "name">> {
  const c = { total: 0, available: 0, claimed: 0, inUse: 0, cordoned: 0, quarantined: 0 };
  for (const m of machines) {
    c.total++;
    if (m.cordoned) c.cordoned++;
    switch (m.phase) {
      case "Available":
        c.available++;
        break;
      case "Quarantined":
        c.quarantined++;
        break;
      case "InUse":
        c.inUse++;
        c.claimed++;
        break;
      case "Claimed":
      case "Provisioning":
      case "Failed":
      case "Cleaning":
        c.claimed++;
        break;
      case "Cordoned":
        break;
    }
  }
  return c;
}

/**
 * The shape of one machine of the pool, when every machine that reported facts reported the
 * same CPUs, memory, architecture and OS (and at least one did); otherwise undefined. The
 * cluster autoscaler uses it to build a template node when scaling from zero.
 */
export function alikeShape(
  facts: (MachineFacts | undefined)[],
): { capacity: Record<string, string>; nodeInfo: { architecture: string; operatingSystem: string } } | undefined {
  const known = facts.filter(
    (f): f is MachineFacts & { cpus: number; memory: string; architecture: string; operatingSystem: string } =>
      !!f && f.cpus !== undefined && !!f.memory && !!f.architecture && !!f.operatingSystem,
  );
  if (known.length === 0 || known.length !== facts.length) return undefined;
  const [first] = known as [(typeof known)[number]];
  const same = known.every(
    (f) =>
      f.cpus === first.cpus &&
      f.memory === first.memory &&
      f.architecture === first.architecture &&
      f.operatingSystem === first.operatingSystem,
  );
  if (!same) return undefined;
  return {
    capacity: { cpu: String(first.cpus), memory: first.memory },
    nodeInfo: { architecture: first.architecture, operatingSystem: first.operatingSystem },
  };
}

/** `uname -m` spelled as Kubernetes spells node architectures. */
export function kubeArch(uname: string): string {
  const m = uname.trim();
  const map: Record<string, string> = {
    x86_64: "amd64",
    amd64: "amd64",
    aarch64: "arm64",
    arm64: "arm64",
    armv7l: "arm",
    armv6l: "arm",
    i686: "386",
    i386: "386",
    ppc64le: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  return map[m] ?? m;
}

/**
 * Parses the output of the fact-gathering script (`key=value` lines; see the controller's
 * `FACTS_SCRIPT`). Unknown keys are ignored; missing ones stay unset.
 */
export function parseFacts(output: string): MachineFacts {
  const kv = new Map<string, string>();
  for (const line of output.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const f: MachineFacts = {};
  const hostname = kv.get("hostname");
  if (hostname) f.hostname = hostname;
  const os = kv.get("os");
  if (os) f.operatingSystem = os.toLowerCase();
  const pretty = kv.get("pretty")?.replace(/^"(.*)"$/, "$1");
  if (pretty) f.osImage = pretty;
  const kernel = kv.get("kernel");
  if (kernel) f.kernelVersion = kernel;
  const arch = kv.get("arch");
  if (arch) f.architecture = kubeArch(arch);
  const cpus = Number(kv.get("cpus"));
  if (kv.get("cpus") && Number.isInteger(cpus) && cpus >= 0) f.cpus = cpus;
  const memKb = /^(\d+)/.exec(kv.get("memkb") ?? "")?.[1];
  if (memKb) f.memory = `${memKb}Ki`;
  return f;
}
