/** BENCH_PPROF=<dir>: CPU profiles of the test bed's API server during a benchmark. */
import { spawn } from "node:child_process";
import { apiGet } from "../../test/bed/controlplane.js";
import type { TestBed } from "../../test/bed/index.js";

/** Starts a 10 s CPU profile of the API server into <BENCH_PPROF>/<name>.pprof (read with `go tool pprof -top`). */
export function profileApiServer(bed: TestBed, name: string): void {
  const dir = process.env.BENCH_PPROF;
  if (!dir) return;
  spawn(
    "curl",
    [
      "-sk",
      "-H",
      `Authorization: Bearer ${bed.controlPlane.token}`,
      "-o",
      `${dir}/${name}.pprof`,
      `${bed.controlPlane.server}/debug/pprof/profile?seconds=10`,
    ],
    { stdio: "ignore" },
  );
}

/** The API server's request counters (`apiserver_request_total`) by "VERB resource[/sub]". */
export async function apiServerRequests(bed: TestBed): Promise<Map<string, number>> {
  const { body } = await apiGet(bed.controlPlane, `${bed.controlPlane.server}/metrics`);
  const out = new Map<string, number>();
  for (const m of body.matchAll(/^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const l = Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (l.verb === "WATCH") continue;
    const k = `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ""}`;
    out.set(k, (out.get(k) ?? 0) + Number(m[2]));
  }
  return out;
}

/** The requests between two readings, most first: "VERB resource n, ...". */
export function requestsBetween(a: Map<string, number>, b: Map<string, number>): string {
  return [...b]
    .map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([k, d]) => `${k} ${d}`)
    .join(", ");
}
