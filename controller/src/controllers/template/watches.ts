/** What wakes a RemoteMachineTemplate: a change in the pool it counts, from an informer index. */
import type { RemoteMachineTemplate } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { keyOf } from "../../runtime/informer.js";
import type { Indexed } from "../../runtime/store.js";

type T = RemoteMachineTemplate & Named;

export const TemplateIndex = { pool: "pool" } as const;

/** Adds the index the mapper reads. Call once, before the informer starts. */
export function addTemplateIndexes(templates: Indexed<T>): void {
  templates.addIndex(TemplateIndex.pool, (t) =>
    t.spec.template.spec.pool ? [`${t.metadata.namespace ?? ""}/${t.spec.template.spec.pool}`] : [],
  );
}

/** A pool changed (a machine joined, left, was claimed or freed): the templates that count it. */
export function poolToTemplates(templates: Indexed<T>, namespace: string | undefined, pool: string): string[] {
  return templates.byIndex(TemplateIndex.pool, `${namespace ?? ""}/${pool}`).map(keyOf);
}
