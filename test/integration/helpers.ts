/** Helpers shared by the integration suites. */
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { getTestBed, type TestBed } from "../bed/index.js";
import { ensureNamespace } from "../bed/kube.js";

export const GROUP = "infrastructure.cluster.x-k8s.io";

/**
 * Gives a suite the shared test bed (or its own when run alone) and a fresh namespace.
 * Call at the top of a `describe`; read `.bed` and `.ns` inside tests.
 */
export function useBed(prefix: string, opts: { capi?: boolean } = {}) {
  const ctx = { bed: undefined as unknown as TestBed, ns: `${prefix}-${randomBytes(3).toString("hex")}` };
  before(async () => {
    ctx.bed = await getTestBed(opts);
    await ensureNamespace(ctx.bed.clients, ctx.ns);
  });
  after(async () => {
    await ctx.bed?.stop();
  });
  return ctx;
}
