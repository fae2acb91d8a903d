/**
 * The machine's facts (hostname, OS, CPUs, memory) gathered over SSH when it joins the pool or
 * its connection fields change; read-only on the machine. Failures back off on the queue and
 * wait behind a gate that only time or a spec change opens.
 */
import { ConditionType, formatTime, parseFacts, Reason, RemoteAnnotations } from "@capi-remote/shared";
import { R } from "../../../kube/api.js";
import type { Phase, PhaseResult } from "../../../runtime/reconciler.js";
import { readSshTarget } from "../../../security/sshtarget.js";
import { fingerprint } from "../../../ssh/hostkeys.js";
import { condition, type Deps, taskKey } from "../deps.js";
import type { Scope } from "../scope.js";

/** Read-only; prints key=value lines that `parseFacts` reads. */
export const FACTS_SCRIPT = [
  "echo hostname=$(hostname)",
  "echo os=$(uname -s)",
  "echo kernel=$(uname -r)",
  "echo arch=$(uname -m)",
  "echo cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)",
  "echo memkb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)",
  "(. /etc/os-release 2>/dev/null && echo pretty=$PRETTY_NAME)",
  "true",
].join("; ");

const FACTS_MAX_DELAY_MS = 300_000;

export const facts = (d: Deps): Phase<Scope> => ({
  name: "facts",
  run: async (s) => {
    if (!d.ctx.poolFacts) {
      const message = "fact gathering is switched off (--pool-facts=false)";
      condition(d, s, ConditionType.FactsGathered, "False", Reason.FactsDisabled, message);
      return undefined;
    }
    const { prm, key } = s;
    const generation = prm.metadata.generation;
    const done = d.mem.factsDone.get(key);
    if (done && done.generation === generation) {
      s.status.facts = done.facts;
      condition(d, s, ConditionType.FactsGathered, "True", Reason.FactsGathered, "");
      if (prm.status?.facts?.gatheredAt === done.facts.gatheredAt) d.mem.factsDone.delete(key);
      return undefined;
    }
    const current =
      prm.status?.facts &&
      prm.status.conditions?.find((c) => c.type === ConditionType.FactsGathered)?.observedGeneration === generation;
    if (current) return undefined;
    const task = d.ctx.tasks.get(taskKey(key, "facts"));
    if (!task) return await start(d, s);
    if (task.running) return undefined;
    d.ctx.tasks.clear(taskKey(key, "facts"));
    if (task.ok) {
      const gathered = { ...parseFacts(task.output ?? ""), gatheredAt: formatTime(d.ctx.now()) };
      d.mem.factsDone.set(key, { facts: gathered, generation });
      d.mem.factsGate.delete(key);
      d.queue.forget(key);
      s.status.facts = gathered;
      condition(d, s, ConditionType.FactsGathered, "True", Reason.FactsGathered, "");
      return undefined;
    }
    const f = task.failure ?? { reason: Reason.HostUnreachable, message: "unknown failure" };
    const message =
      f.reason === Reason.HostKeyMismatch && task.failure?.presentedKey
        ? `${f.message}: it presented ${fingerprint(task.failure.presentedKey)}`
        : f.message;
    condition(d, s, ConditionType.FactsGathered, "False", f.reason, message, "Warning");
    closeGate(d, s);
    return undefined;
  },
});

/** No new attempt before the queue's backoff for this key has passed (unless the spec changes). */
function closeGate(d: Deps, s: Scope): void {
  const at = Date.now() + d.queue.addRateLimited(s.key, FACTS_MAX_DELAY_MS);
  d.mem.factsGate.set(s.key, { at, generation: s.prm.metadata.generation });
}

async function start(d: Deps, s: Scope): Promise<PhaseResult | undefined> {
  const { prm, key, ns } = s;
  const gate = d.mem.factsGate.get(key);
  if (gate && gate.generation === prm.metadata.generation && Date.now() < gate.at)
    return { requeueAfterMs: gate.at - Date.now() + 50 };
  const t = await readSshTarget(
    d.ctx.secrets,
    ns,
    prm.spec.machine,
    prm.metadata.annotations?.[RemoteAnnotations.HostKey],
  );
  if ("reason" in t) {
    condition(d, s, ConditionType.FactsGathered, "False", t.reason, t.message, "Warning");
    closeGate(d, s);
    return undefined;
  }
  const probe = d.ctx.hosts.probe(key, {
    target: t.target,
    command: FACTS_SCRIPT,
    timeoutMs: 30_000,
    recordHostKey: async (hk) => {
      await d.ctx.api.patch(R.pooledRemoteMachines, ns, prm.metadata.name, {
        metadata: { annotations: { [RemoteAnnotations.HostKey]: hk } },
      });
    },
  });
  d.ctx.tasks.start(taskKey(key, "facts"), "probe", probe);
  return undefined;
}
