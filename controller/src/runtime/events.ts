/**
 * Kubernetes Events (core/v1) for the state changes users care about. Repeats of the same event
 * on the same object within ten minutes bump the count of the existing Event instead of making a
 * new one, as client-go's recorder does, so a retrying machine does not flood the namespace.
 */
import { randomBytes } from "node:crypto";
import type { KubeApi } from "../kube/api.js";
import { R } from "../kube/api.js";
import type { Logger } from "./log.js";

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = "Normal" | "Warning";

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly api: KubeApi,
    private readonly component: string,
    private readonly log: Logger,
    private readonly redact: (s: string) => string = (s) => s,
  ) {}

  async emit(obj: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? "default";
    const msg = this.redact(message).slice(0, 1024);
    const key = `${obj.metadata.uid}|${type}|${reason}|${msg}`;
    const now = new Date();
    const ts = now.toISOString().replace(/\.\d{3}Z$/, "Z");
    const prev = this.recent.get(key);
    this.log.debug("event", {
      object: `${obj.kind} ${ns}/${obj.metadata.name}`,
      type,
      reason,
      count: prev ? prev.count + 1 : 1,
    });
    try {
      if (prev && now.getTime() - prev.at < 600_000) {
        prev.count++;
        prev.at = now.getTime();
        await this.api.patch(R.events, ns, prev.name, { count: prev.count, lastTimestamp: ts });
        return;
      }
      const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString("hex")}`;
      await this.api.create(R.events, ns, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: ns,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message: msg,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      });
      this.recent.set(key, { name, count: 1, at: now.getTime() });
      if (this.recent.size > 5000) this.recent.delete(this.recent.keys().next().value as string);
    } catch (e) {
      this.log.warn("could not record an event", { reason, err: e });
    }
  }
}
