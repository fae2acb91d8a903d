/** What the host-session tests share: an SSH target that is never dialled for real, and a bootstrap's input with test defaults. */
import type { SSHTarget } from "../../ssh/executor.js";
import type { BootstrapInput } from "./session.js";

export const testTarget = (host: string): SSHTarget => ({
  host,
  port: 22,
  user: "root",
  privateKey: "unused",
  hostKeys: { mode: "insecure" },
  connectTimeoutMs: 1000,
});

/** A bootstrap of `t/rm` (one step, `echo hi`); `stamps` collects the start stamps it records. */
export function bootstrapInput(
  target: SSHTarget,
  more: Partial<BootstrapInput> = {},
): BootstrapInput & { stamps: string[] } {
  const stamps: string[] = [];
  return {
    target,
    useSudo: false,
    workingDir: "/root",
    commandsAsScript: false,
    data: { value: '#cloud-config\nruncmd: ["echo hi"]\n' },
    stateDir: "/var/lib/capi-remote/t.rm",
    owner: "t/rm",
    commandTimeoutSeconds: 600,
    bootstrapTimeoutMs: 60_000,
    uid: "uid-a",
    attach: async () => {},
    markStarted: async (_k, stamp) => {
      stamps.push(stamp);
    },
    stamps,
    ...more,
  };
}
