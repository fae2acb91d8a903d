/**
 * Watches every version of a namespace's RemoteMachines while a test runs, so that a condition
 * or failure field that was written and then overwritten (a false alarm a retry papered over) is
 * still seen: polling the object would miss it.
 */
import { Watch } from "@kubernetes/client-node";
import type { TestBed } from "../bed/index.js";
import { type Any, INFRA } from "./harness.js";

/**
 * Condition reasons that report something wrong. A healthy provisioning shows only waiting and
 * progress reasons on its way to Provisioned.
 */
export const ALARM_REASONS = new Set([
  "HostUnreachable",
  "HostKeyMismatch",
  "AuthenticationFailed",
  "InvalidSSHKey",
  "SSHKeySecretNotFound",
  "HostKeySecretNotFound",
  "SudoRequiresPassword",
  "SudoNotPermitted",
  "MachineAlreadyBootstrapped",
  "BootstrapFailed",
  "BootstrapTimedOut",
  "BootstrapSentinelMissing",
  "InvalidBootstrapData",
  "UnsupportedBootstrapFormat",
  "ProvisionJobFailed",
  "CleanupFailed",
]);

export interface Observation {
  name: string;
  resourceVersion: string;
  conditions: { type: string; status: string; reason: string; message: string }[];
  failureReason?: string;
}

export class RemoteMachineObserver {
  readonly seen: Observation[] = [];
  private req?: { abort(): void };

  constructor(
    private readonly bed: TestBed,
    private readonly ns: string,
  ) {}

  async start(): Promise<void> {
    const w = new Watch(this.bed.clients.kc);
    this.req = await w.watch(
      `/apis/${INFRA}/v1beta2/namespaces/${this.ns}/remotemachines`,
      {},
      (_type: string, obj: Any) => {
        this.seen.push({
          name: obj.metadata?.name,
          resourceVersion: obj.metadata?.resourceVersion,
          conditions: (obj.status?.conditions ?? []).map((c: Any) => ({
            type: c.type,
            status: c.status,
            reason: c.reason ?? "",
            message: c.message ?? "",
          })),
          failureReason: obj.status?.failureReason ?? obj.status?.deprecated?.v1beta1?.failureReason,
        });
      },
      () => {},
    );
  }

  stop(): void {
    this.req?.abort();
  }

  /** How many versions of `name` were seen (a check that the watch saw anything at all). */
  versions(name: string): number {
    return this.seen.filter((o) => o.name === name).length;
  }

  /** Every alarm any version of `name` carried: a failure reason, or a condition reason that reports a fault. */
  alarms(name: string): string[] {
    const out: string[] = [];
    for (const o of this.seen.filter((x) => x.name === name)) {
      if (o.failureReason) out.push(`rv ${o.resourceVersion}: failureReason ${o.failureReason}`);
      for (const c of o.conditions)
        if (ALARM_REASONS.has(c.reason))
          out.push(`rv ${o.resourceVersion}: ${c.type}=${c.status} ${c.reason}: ${c.message}`);
    }
    return out;
  }
}

/** Warning Events about an object (reason: message). */
export async function warningEvents(bed: TestBed, ns: string, name: string): Promise<string[]> {
  const list = await bed.clients.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.filter((e) => e.type === "Warning").map((e) => `${e.reason}: ${e.message}`);
}
