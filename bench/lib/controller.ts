/** What the benches that run the bundled controller over many objects share. */
import { readFile } from "node:fs/promises";
import type { TestBed } from "../../test/bed/index.js";
import { type Any, type ControllerProcess, INFRA } from "../../test/e2e/harness.js";

export const TICKS = 100; // USER_HZ on Linux
export const pad = (i: number) => String(i).padStart(5, "0");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const inBatches = async <T>(items: T[], size: number, fn: (x: T) => Promise<unknown>) => {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
};

/** A process's CPU ticks (utime + stime), resident set and peak resident set (VmHWM). */
export async function procStat(pid: number) {
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuTicks: Number(stat[11]) + Number(stat[12]), rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/** The controller's request counter: the total, and per "verb resource". */
export async function requests(c: ControllerProcess) {
  const by: Record<string, number> = {};
  let total = 0;
  for (const m of (await c.metricsText()).matchAll(/^capi_remote_api_requests_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const l = Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const k = `${l.verb} ${l.resource}`;
    by[k] = (by[k] ?? 0) + Number(m[2]);
    total += Number(m[2]);
  }
  return { total, by };
}

/** Stops (or resumes) the Cluster API manager, so that the figures are the controller's alone. */
export function freezeCapi(bed: TestBed, frozen: boolean) {
  if (bed.capi?.pid) process.kill(bed.capi.pid, frozen ? "SIGSTOP" : "SIGCONT");
}

/**
 * RemoteMachine `m-<i>`, created provisioned (provider ID and start record set, as after a
 * `clusterctl move`: no SSH), owned by its Machine.
 */
export function provisionedRemoteMachine(
  i: number,
  machineUid: string | undefined,
  address: string,
  sshKey: string,
): Any {
  return {
    apiVersion: `${INFRA}/v1beta2`,
    kind: "RemoteMachine",
    metadata: {
      name: `m-${pad(i)}`,
      annotations: { "remote.infrastructure.cluster.x-k8s.io/bootstrap-started": "2026-11-29T00:00:00Z" },
      ownerReferences: [
        {
          apiVersion: "cluster.x-k8s.io/v1beta2",
          kind: "Machine",
          name: `m-${pad(i)}`,
          uid: machineUid,
          controller: true,
        },
      ],
    },
    spec: { address, sshKeyRef: { name: sshKey }, providerID: `remote-machine://${address}:22` },
  };
}
