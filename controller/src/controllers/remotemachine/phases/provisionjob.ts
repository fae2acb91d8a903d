/**
 * Provisioning through a Job (`spec.provisionJob`): create the Job and its Secret once, then
 * follow the Job's status. A Job or Secret of the name that this RemoteMachine did not make is
 * never used: it could report a run that never happened, or run someone else's script.
 */
import {
  ConditionType,
  DEFAULT_COMMAND_TIMEOUT_SECONDS,
  DEFAULT_WORKING_DIR,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";
import { BootstrapDataError, type Plan } from "../../../cloudinit/plan.js";
import { planPool } from "../../../cloudinit/planpool.js";
import { stateDirFor } from "../../../host/protocol.js";
import { ApiError, R } from "../../../kube/api.js";
import {
  type Job,
  jobName,
  provisionJob as jobOf,
  jobOutcome,
  jobPolicyViolation,
  ownedBy,
  provisionScript,
  provisionSecret,
} from "../../../provisionjob/job.js";
import type { Phase, PhaseResult } from "../../../runtime/reconciler.js";
import { block, condition, type Deps } from "../deps.js";
import type { Scope } from "../scope.js";
import { setBootstrapRunning } from "../status.js";
import { failTerminally, succeed } from "./outcome.js";

const notOurs = (name: string) =>
  `Job ${name} exists and was not made for this RemoteMachine (no controller owner reference with its UID); delete it or name the Job in jobSpecTemplate.metadata.name`;

export const provisionJob = (d: Deps): Phase<Scope> => ({
  name: "provisionJob",
  when: (s) => !s.rebuilt && !!s.rm.spec.provisionJob,
  run: async (s) => {
    const { rm } = s;
    const ns = rm.metadata.namespace ?? "";
    const jobs = d.ctx.inf.jobs;
    if (!jobs)
      return refuseJob(
        d,
        s,
        "spec.provisionJob: this controller provisions no machine through a Job (--provision-jobs=false); provision over SSH, or ask its operator to turn Jobs on",
      );
    const refused = jobPolicyViolation(rm, d.ctx.provisionJobAllow);
    if (refused) return refuseJob(d, s, `${refused.field}: ${refused.message}`);
    const name = jobName(rm, s.machine?.spec.clusterName ?? "");
    const job = jobs.get(ns, name);
    if (job && !ownedBy(job, rm)) return refuseJob(d, s, notOurs(name));
    if (!job) return createJob(d, s, name);
    const outcome = jobOutcome(job);
    if (outcome.state === "succeeded") {
      await succeed(d, s, undefined);
      return undefined;
    }
    if (outcome.state === "failed")
      return failTerminally(d, s, Reason.ProvisionJobFailed, `Job ${name} failed: ${outcome.message ?? ""}`);
    const msg = `Job ${name} running`;
    condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRunning, msg);
    setBootstrapRunning(s.status, {});
    return block(s, Reason.ProvisionJobRunning, msg);
  },
});

/** A Job the controller will not make (yet): said with a condition and an Event; fixed by an edit. */
function refuseJob(d: Deps, s: Scope, message: string): PhaseResult {
  condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRefused, message, "Warning");
  return block(s, Reason.ProvisionJobRefused, message);
}

async function createJob(d: Deps, s: Scope, name: string): Promise<PhaseResult> {
  const { rm } = s;
  let plan: Plan;
  try {
    // In a worker thread, bounded in time and memory (cloudinit/planpool.ts).
    plan = await planPool().plan(s.data?.value ?? "", s.data?.format, {
      commandsAsScript: rm.spec.commandsAsScript ?? false,
      hostname: s.machine?.metadata.name ?? "",
    });
  } catch (e) {
    if (e instanceof BootstrapDataError) return failTerminally(d, s, e.reason, e.message);
    throw e;
  }
  const script = provisionScript(plan, {
    stateDir: stateDirFor(rm.metadata.namespace ?? "", rm.metadata.name),
    workingDir: rm.spec.workingDir ?? DEFAULT_WORKING_DIR,
    owner: s.key,
    commandTimeoutSeconds: rm.spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
  });
  const refusal = await createJobAndSecret(d, s, name, script);
  if (refusal) return refuseJob(d, s, refusal);
  const msg = `Job ${name} created`;
  condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRunning, msg, "Normal");
  setBootstrapRunning(s.status, {});
  return block(s, Reason.ProvisionJobRunning, msg);
}

/**
 * Creates the Job's Secret (or finds its own from an earlier pass) and the Job; returns why it
 * will not, when a name is taken by an object it did not make or the API refuses the template.
 */
async function createJobAndSecret(d: Deps, s: Scope, name: string, script: string): Promise<string | undefined> {
  const { rm } = s;
  const ns = rm.metadata.namespace ?? "";
  const secret = provisionSecret(rm, name, script);
  const created = await d.ctx.api.create(R.secrets, ns, secret).then(
    () => true,
    (e: unknown) => {
      if (e instanceof ApiError && e.status === 409) return false;
      throw e;
    },
  );
  if (!created) {
    // Its owner only: the data of a Secret no machine names is never read (security/secrets.ts).
    const existing = await d.ctx.api.getMetadata<Job["metadata"]>(R.secrets, ns, secret.metadata.name);
    if (!ownedBy(existing, rm))
      return `Secret ${secret.metadata.name} exists and was not made for this RemoteMachine; delete it`;
  }
  if (!rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted]) {
    await d.ctx.api.patch(R.remoteMachines, ns, rm.metadata.name, {
      metadata: { annotations: { [RemoteAnnotations.BootstrapStarted]: d.ctx.now().toISOString() } },
    });
  }
  const refusal = await d.ctx.api.create(R.jobs, ns, jobOf(rm, name)).then(
    () => undefined,
    (e: unknown) => {
      // A Job of that name exists (ours from an earlier pass, or someone else's, which the
      // cache may not show: it lists only Jobs with our label): its owner decides.
      if (e instanceof ApiError && e.status === 409)
        return d.ctx.api.get<Job>(R.jobs, ns, name).then((j) => (ownedBy(j, rm) ? undefined : notOurs(name)));
      // The API server's own validation of the user's template: said, not retried in a loop.
      if (e instanceof ApiError && (e.status === 422 || e.status === 400)) return e.message;
      throw e;
    },
  );
  if (!refusal) return undefined;
  return refusal.startsWith(`Job ${name} exists`)
    ? refusal
    : `the Job from spec.provisionJob.jobSpecTemplate is invalid: ${refusal}`;
}
