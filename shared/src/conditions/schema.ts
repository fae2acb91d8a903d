/** The condition schema both contracts read (TypeBox; the CRDs are generated from it). */
import { Enum, Int64, List, Obj, Optional, type Static, Str, Time } from "../schema/k8s.js";

/**
 * A condition as stored in `status.conditions`: the `metav1.Condition` shape of the v1beta2
 * contract. `severity` is accepted so that a v1beta1-era writer's conditions are not pruned.
 */
export const ConditionSchema = Obj({
  type: Str({ minLength: 1, maxLength: 316 }),
  status: Enum(["True", "False", "Unknown"] as const),
  observedGeneration: Optional(Int64({ minimum: 0 })),
  lastTransitionTime: Optional(Time()),
  reason: Optional(Str({ maxLength: 1024 })),
  message: Optional(Str({ maxLength: 32768 })),
  severity: Optional(Enum(["Error", "Warning", "Info", ""] as const)),
});
export type Condition = Static<typeof ConditionSchema>;

export const ConditionList = List(ConditionSchema, {
  maxItems: 32,
  mapKeys: ["type"],
  description: "Conditions (metav1.Condition shape, the v1beta2 contract).",
});
