/** What the tests of planning hostile data share: the data, and a watch on the event loop. */

/** Cloud-config with `n` tiny write_files entries (20,000 fit in just under 1 MiB). */
export function manyFiles(n: number): string {
  const lines = ["#cloud-config", "write_files:"];
  for (let i = 0; i < n; i++) lines.push(`- {path: /f${i}, content: HostileSuite}`);
  return lines.join("\n");
}

/**
 * Runs `fn` beside a 5 ms timer: its wall time, the event loop's worst delay meanwhile (the
 * longest gap between the timer's runs), and how often the timer ran during `fn` (none while a
 * synchronous parse holds the loop).
 */
export async function measured<T>(
  fn: () => Promise<T> | T,
): Promise<{ ms: number; maxDelayMs: number; ticks: number; result: T | Error }> {
  let last = performance.now();
  let worst = 0;
  let ticks = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
    ticks++;
  }, 5);
  await new Promise((r) => setTimeout(r, 20));
  worst = 0;
  ticks = 0;
  const t0 = performance.now();
  let result: T | Error;
  try {
    result = await fn();
  } catch (e) {
    result = e as Error;
  }
  const ms = performance.now() - t0;
  const during = ticks;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  return { ms, maxDelayMs: worst, ticks: during, result };
}
