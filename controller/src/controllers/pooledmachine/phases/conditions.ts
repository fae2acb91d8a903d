/** Claimed, Cordoned and Quarantined as status.ts decides them, with their Events. */
import { poolPhaseOf } from "@capi-remote/shared";
import type { Phase } from "../../../runtime/reconciler.js";
import { condition, type Deps } from "../deps.js";
import type { Scope } from "../scope.js";
import { poolConditions } from "../status.js";

export const conditions = (d: Deps): Phase<Scope> => ({
  name: "conditions",
  run: (s) => {
    const changes = poolConditions({
      prm: s.prm,
      who: s.who,
      held: s.held,
      phase: poolPhaseOf(s.prm, s.claimant),
      returning: s.returning,
      conditions: s.conditions,
    });
    for (const c of changes) condition(d, s, c.type, c.status, c.reason, c.message, c.event);
    return undefined;
  },
});
