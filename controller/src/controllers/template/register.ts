/** The template controller's registration: templates recount when a machine of their pool changes. */

import { keyOf } from "../../runtime/informer.js";
import type { Manager } from "../../runtime/manager.js";
import type { WorkQueue } from "../../runtime/queue.js";
import type { Ctx } from "../context.js";
import { templateReconciler } from "./controller.js";
import { addTemplateIndexes, poolToTemplates } from "./watches.js";

export const TEMPLATE_CONTROLLER = "remotemachinetemplate";

/** A pool change recounts its templates after 250 ms, so a burst of changes is one write. */
const RECOUNT_DELAY_MS = 250;

export function registerTemplate(m: Manager, ctx: Ctx, queue: WorkQueue): void {
  const { inf } = ctx;
  addTemplateIndexes(inf.remoteMachineTemplates);
  m.reconcileWith(TEMPLATE_CONTROLLER, templateReconciler(ctx));
  const recountPool = (namespace: string | undefined, pool: string | undefined) => {
    if (!pool) return;
    for (const k of poolToTemplates(inf.remoteMachineTemplates, namespace, pool)) queue.addAfter(k, RECOUNT_DELAY_MS);
  };
  inf.remoteMachineTemplates.on({ onAdd: (t) => queue.add(keyOf(t)), onUpdate: (t) => queue.add(keyOf(t)) });
  const fromRemoteMachine = (rm: { metadata: { namespace?: string }; spec: { pool?: string } }) =>
    recountPool(rm.metadata.namespace, rm.spec.pool);
  inf.remoteMachines.on({ onAdd: fromRemoteMachine, onUpdate: fromRemoteMachine, onDelete: fromRemoteMachine });
  inf.pooledRemoteMachines.on({
    onAdd: (p) => recountPool(p.metadata.namespace, p.spec.pool),
    onUpdate: (p, old) => {
      recountPool(p.metadata.namespace, p.spec.pool);
      if (old.spec.pool !== p.spec.pool) recountPool(old.metadata.namespace, old.spec.pool);
    },
    onDelete: (p) => recountPool(p.metadata.namespace, p.spec.pool),
  });
}
