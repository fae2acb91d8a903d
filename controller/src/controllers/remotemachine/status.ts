/**
 * RemoteMachine status decisions that are pure functions of what was observed: no API, no clock,
 * no SSH. Table-tested in status.test.ts.
 */
import { type Condition, ConditionStatus, ConditionType, type RemoteMachineStatus } from "@capi-remote/shared";

const get = (c: readonly Condition[] | undefined, type: string) => c?.find((x) => x.type === type);

/**
 * Whether a computed status must reach the API server now rather than with the next progress
 * write (runtime/statuswriter.ts): what a user or Cluster API acts on. `before` is the status
 * the object carries, `after` the one this pass computed.
 */
export function statusUrgent(
  before: RemoteMachineStatus | undefined,
  after: RemoteMachineStatus,
  deleting: boolean,
): boolean {
  if (!before || deleting) return true;
  const flipped = (type: string) => get(before.conditions, type)?.status !== get(after.conditions, type)?.status;
  const hostFalse = (s: RemoteMachineStatus) =>
    get(s.conditions, ConditionType.HostReachable)?.status === ConditionStatus.False;
  return (
    flipped(ConditionType.Ready) ||
    // A connection problem (or its end) is news for whoever is waiting; the first successful
    // connection is not (it would make every bootstrap's start an urgent write).
    (flipped(ConditionType.HostReachable) && (hostFalse(before) || hostFalse(after))) ||
    before.initialization?.provisioned !== after.initialization?.provisioned ||
    (after.bootstrap?.phase === "Failed" && before.bootstrap?.phase !== "Failed")
  );
}
