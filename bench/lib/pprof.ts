/** BENCH_PPROF=<dir>: CPU profiles of the test bed's API server during a benchmark. */
import { spawn } from "node:child_process";
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
