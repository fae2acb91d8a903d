/**
 * Health after provisioning: a machine provisioned before this pass is probed over SSH off the
 * loop (health/prober.ts); a changed verdict queues it, and this sets HostHealthy from it (an
 * Event when it turns False or Unknown, and when it answers again). status.ts turns Ready False
 * while HostHealthy is False. Runs through a Job are not probed (the controller may have no route
 * to them); with checks off the condition goes.
 */
import { ConditionType } from "@capi-remote/shared";
import { healthCondition } from "../../../health/policy.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { condition, type Deps, sshTarget } from "../deps.js";
import type { Scope } from "../scope.js";

export const health = (d: Deps): Phase<Scope> => ({
  name: "health",
  when: (s) => !!s.rebuilt,
  run: async (s) => {
    const h = d.ctx.health;
    if (!h?.enabled || s.rm.spec.provisionJob) {
      h?.forget(s.key);
      s.conditions = s.conditions.filter((c) => c.type !== ConditionType.HostHealthy);
      return undefined;
    }
    const t = await sshTarget(d, s);
    if ("reason" in t) {
      h.forget(s.key);
      condition(
        d,
        s,
        ConditionType.HostHealthy,
        "Unknown",
        t.reason,
        `cannot check the machine: ${t.message}`,
        "Warning",
      );
      return undefined;
    }
    h.watch(s.key, t.target);
    const prev = s.conditions.find((c) => c.type === ConditionType.HostHealthy);
    const c = healthCondition(h.verdict(s.key), prev);
    if (c) condition(d, s, ConditionType.HostHealthy, c.status, c.reason, c.message, c.event);
    return undefined;
  },
});
