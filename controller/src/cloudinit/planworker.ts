/**
 * The worker thread that plans bootstrap data (see planpool.ts): a YAML parse of 1 MiB of
 * tenant data can take seconds of CPU and tens of MiB of heap, which must not stall the
 * controller's event loop or grow its heap. Answers each request with the plan or the
 * BootstrapDataError's reason and message (never the data).
 */
import { readlinkSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { BootstrapDataError, type PlanOptions, planBootstrap } from "./plan.js";

export interface PlanRequest {
  id: number;
  value: string;
  format?: string;
  opts: PlanOptions;
}

export type PlanAnswer =
  | { id: number; ok: true; plan: ReturnType<typeof planBootstrap> }
  | { id: number; ok: false; reason?: BootstrapDataError["reason"]; message: string };

parentPort?.on("message", (req: PlanRequest) => {
  let answer: PlanAnswer;
  try {
    answer = { id: req.id, ok: true, plan: planBootstrap(req.value, req.format, req.opts) };
  } catch (e) {
    answer =
      e instanceof BootstrapDataError
        ? { id: req.id, ok: false, reason: e.reason, message: e.message }
        : { id: req.id, ok: false, message: e instanceof Error ? e.name : "error" };
  }
  parentPort?.postMessage(answer);
});
// Loaded: the pool starts a plan's clock only now, so a worker's start is not counted against it.
// With it, the thread's id for the kernel (Linux), so the pool can read this thread's CPU time.
parentPort?.postMessage({ ready: osThreadId() });

function osThreadId(): number | undefined {
  try {
    return Number(readlinkSync("/proc/thread-self").split("/").pop()) || undefined;
  } catch {
    return undefined;
  }
}
