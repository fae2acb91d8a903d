/** RemoteMachineTemplate status as a pure function of its pool. Table-tested in status.test.ts. */
import {
  alikeShape,
  countPool,
  type MachineFacts,
  type PoolPhase,
  type RemoteMachineTemplateStatus,
} from "@capi-remote/shared";

/** What the template sees of one machine of its pool. */
export interface PoolMember {
  phase: PoolPhase;
  cordoned?: boolean | undefined;
  facts?: MachineFacts | undefined;
}

/**
 * The counts of the pool (the machines the selector matches) and, when those machines are
 * alike, the v1beta2 `capacity` and `nodeInfo` the cluster autoscaler reads to scale a
 * MachineDeployment up from zero; without a common shape both are dropped.
 */
export function templateStatus(
  before: RemoteMachineTemplateStatus | undefined,
  pool: string,
  members: readonly PoolMember[],
): RemoteMachineTemplateStatus {
  const counts = countPool(members.map((m) => ({ phase: m.phase, cordoned: m.cordoned })));
  const status: RemoteMachineTemplateStatus = { ...(before ?? {}), pool: { name: pool, ...counts } };
  const shape = alikeShape(members.map((m) => m.facts));
  if (shape) {
    status.capacity = shape.capacity;
    status.nodeInfo = shape.nodeInfo;
  } else {
    delete status.capacity;
    delete status.nodeInfo;
  }
  return status;
}
