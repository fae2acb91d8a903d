import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition, RemoteMachineStatus } from "@capi-remote/shared";
import { statusUrgent } from "./status.js";

const c = (type: string, status: Condition["status"], reason = "R"): Condition => ({ type, status, reason });
const st = (conds: Condition[], extra: Partial<RemoteMachineStatus> = {}): RemoteMachineStatus => ({
  conditions: conds,
  ...extra,
});

describe("statusUrgent", () => {
  const waiting = st([c("Ready", "False", "WaitingForBootstrapData")]);
  const table: {
    name: string;
    before: RemoteMachineStatus | undefined;
    after: RemoteMachineStatus;
    deleting?: boolean;
    urgent: boolean;
  }[] = [
    { name: "an object's first status", before: undefined, after: waiting, urgent: true },
    { name: "anything while deleting", before: waiting, after: waiting, deleting: true, urgent: true },
    { name: "nothing changed", before: waiting, after: waiting, urgent: false },
    {
      name: "a new waiting reason (progress)",
      before: waiting,
      after: st([c("Ready", "False", "BootstrapRunning")]),
      urgent: false,
    },
    {
      name: "Ready flips",
      before: waiting,
      after: st([c("Ready", "True", "Provisioned")]),
      urgent: true,
    },
    {
      name: "the first successful connection",
      before: waiting,
      after: st([c("Ready", "False"), c("HostReachable", "True", "Connected")]),
      urgent: false,
    },
    {
      name: "a connection problem",
      before: st([c("Ready", "False"), c("HostReachable", "True")]),
      after: st([c("Ready", "False"), c("HostReachable", "False", "HostUnreachable")]),
      urgent: true,
    },
    {
      name: "the end of a connection problem",
      before: st([c("Ready", "False"), c("HostReachable", "False")]),
      after: st([c("Ready", "False"), c("HostReachable", "True")]),
      urgent: true,
    },
    {
      name: "provisioned",
      before: waiting,
      after: st(waiting.conditions ?? [], { initialization: { provisioned: true } }),
      urgent: true,
    },
    {
      name: "a terminal bootstrap failure",
      before: st(waiting.conditions ?? [], { bootstrap: { phase: "Running" } }),
      after: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      urgent: true,
    },
    {
      name: "a failure already written",
      before: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      after: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      urgent: false,
    },
  ];
  for (const row of table) {
    it(`${row.urgent ? "is" : "is not"} urgent: ${row.name}`, () => {
      assert.equal(statusUrgent(row.before, row.after, row.deleting ?? false), row.urgent);
    });
  }
});
