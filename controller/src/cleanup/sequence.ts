/**
 * The commands a RemoteMachine's deletion runs on its machine (before capi-remote's state
 * directory goes). Pure: the bootstrap provider's kind, the user's own commands and, when it is
 * still readable, what the bootstrap data says (bootstrapFacts, planned off the event loop)
 * decide them.
 *
 * For k0s (a K0s* bootstrap config) this is k0smotron's sequence: `k0s etcd leave` on
 * controllers, the service stopped through the init system found (systemd, OpenRC, SysV; else
 * `k0s stop`), `k0s reset` with `--kubelet-root-dir` when the bootstrap installed k0s with one,
 * and, when k0s is not on the machine (the bootstrap never got that far), the files the
 * bootstrap wrote removed instead. For KubeadmConfig, `kubeadm reset -f`. Every sequence, the
 * user's own included, ends by removing Cluster API's sentinel, so that nothing says the machine
 * is bootstrapped once it is not.
 */
import { BootstrapDataError, type Step, shq } from "../cloudinit/plan.js";
import { type PlanPool, planPool } from "../cloudinit/planpool.js";
import { SENTINEL } from "../host/protocol.js";
import type { CleanupKind } from "../security/quarantine.js";

/** What the bootstrap data tells the cleanup: k0s's kubelet root dir, the files it wrote. */
export interface BootstrapFacts {
  kubeletRootDir?: string;
  files: string[];
}

export interface CleanupInput {
  kind: CleanupKind;
  /** `cleanUpCommands` / `customCleanUpCommands`, when the object has them. */
  custom?: string[];
  /** What the bootstrap data says (bootstrapFacts), when its Secret is still there. */
  facts?: BootstrapFacts;
}

const REMOVE_SENTINEL = `rm -f ${SENTINEL}`;
const HAVE_K0S = "command -v k0s >/dev/null 2>&1";

/**
 * The facts of the bootstrap data, planned in the worker pool (cloudinit/planpool.ts), never on
 * the event loop: at deletion the data may be anything a tenant wrote, refused at bootstrap or
 * not, up to the limits (lexing it alone can take a second). Data that does not plan (refused, or
 * over the pool's time or heap limit) ran nothing, so it tells nothing; a full queue is thrown
 * (PlanBusy: the deletion is retried).
 */
export async function bootstrapFacts(
  data: { value: string; format?: string },
  pool: PlanPool = planPool(),
): Promise<BootstrapFacts> {
  try {
    // The hostname only matters to jinja expressions, not to paths or install flags.
    return factsOf((await pool.plan(data.value, data.format, { hostname: "localhost" })).steps);
  } catch (e) {
    if (e instanceof BootstrapDataError) return { files: [] };
    throw e;
  }
}

/** The facts of a plan's steps. */
export function factsOf(steps: readonly Step[]): BootstrapFacts {
  // Files it appended to existed before it (and hold more than its lines): they stay.
  const files = steps.flatMap((s) => (s.kind === "file" && !s.append ? [s.path] : []));
  let kubeletRootDir: string | undefined;
  for (const s of steps) {
    const words = commandWords(s);
    if (!words.includes("install")) continue;
    words.forEach((w, i) => {
      if (w.startsWith("--kubelet-root-dir=")) kubeletRootDir = w.slice("--kubelet-root-dir=".length);
      else if (w === "--kubelet-root-dir" && words[i + 1]) kubeletRootDir = words[i + 1];
    });
  }
  const safe = kubeletRootDir?.replace(/^["']|["']$/g, "");
  return { files, ...(safe?.startsWith("/") ? { kubeletRootDir: safe } : {}) };
}

/** The words of a command step (argv as is; a shell line split on blanks: flags need no more). */
function commandWords(s: Step): string[] {
  if (s.kind === "command") return s.argv ?? (s.shell ?? "").split(/\s+/);
  if (s.kind === "script") return s.body.split(/\s+/);
  return [];
}

/** Stops the k0s service through the init system the machine has. */
function stopK0s(service: string): string {
  return [
    `if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl stop ${service}`,
    `elif command -v rc-service >/dev/null 2>&1; then rc-service ${service} stop`,
    `elif [ -x /etc/init.d/${service} ]; then /etc/init.d/${service} stop`,
    "else k0s stop; fi",
  ].join("; ");
}

/** The cleanup commands, in order; each one's failure is reported on its own. */
export function cleanupCommands(input: CleanupInput): string[] {
  if (input.custom) return [...input.custom, REMOVE_SENTINEL];
  switch (input.kind) {
    case "kubeadm":
      return ["kubeadm reset -f", REMOVE_SENTINEL];
    case "k0s":
    case "k0s-controller": {
      const facts = input.facts ?? { files: [] };
      const controller = input.kind === "k0s-controller";
      const reset = `k0s reset${facts.kubeletRootDir ? ` --kubelet-root-dir ${shq(facts.kubeletRootDir)}` : ""}`;
      const removeFiles = facts.files.length ? `rm -f ${facts.files.map(shq).join(" ")}` : "true";
      return [
        ...(controller ? [`if ${HAVE_K0S}; then k0s etcd leave; fi`] : []),
        `if ${HAVE_K0S}; then ${stopK0s(controller ? "k0scontroller" : "k0sworker")}; fi`,
        `if ${HAVE_K0S}; then ${reset}; else ${removeFiles}; fi`,
        REMOVE_SENTINEL,
      ];
    }
    default:
      return [REMOVE_SENTINEL];
  }
}
