/**
 * The ValidatingAdmissionPolicy shipped with the CRDs: the connection fields of a pool machine
 * cannot change while a RemoteMachine holds it (the claimant copied them; a change would make
 * the pool and the cluster disagree about which host is which). Enforced by the API server
 * itself, so no webhook server is needed.
 */
import { GROUP, PROVIDER_LABEL, PROVIDER_NAME } from "./kinds.js";
import { PoolAnnotations } from "./models/remote.js";

export const CLAIM_POLICY_NAME = "pooledremotemachines-claim-lock.infrastructure.cluster.x-k8s.io";

export function claimPolicy(): Record<string, unknown>[] {
  const claimedBy = PoolAnnotations.ClaimedBy;
  const labels = { [PROVIDER_LABEL]: PROVIDER_NAME };
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: CLAIM_POLICY_NAME, labels },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [GROUP],
              apiVersions: ["*"],
              operations: ["UPDATE"],
              // Only the main resource: status writes and the controller's annotations pass.
              resources: ["pooledremotemachines"],
            },
          ],
        },
        variables: [
          {
            name: "claimedBy",
            expression: `has(oldObject.metadata.annotations) && '${claimedBy}' in oldObject.metadata.annotations ? oldObject.metadata.annotations['${claimedBy}'] : ''`,
          },
        ],
        validations: [
          {
            expression: "variables.claimedBy == '' || object.spec.machine == oldObject.spec.machine",
            messageExpression:
              "'spec.machine of pool machine ' + object.metadata.name + ' cannot change while RemoteMachine ' + variables.claimedBy + ' holds it; wait until it is freed, or release it first (annotation remote.infrastructure.cluster.x-k8s.io/release)'",
            reason: "Forbidden",
          },
          {
            expression: "variables.claimedBy == '' || object.spec.pool == oldObject.spec.pool",
            messageExpression:
              "'spec.pool of pool machine ' + object.metadata.name + ' cannot change while RemoteMachine ' + variables.claimedBy + ' holds it'",
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: CLAIM_POLICY_NAME, labels },
      spec: { policyName: CLAIM_POLICY_NAME, validationActions: ["Deny"] },
    },
  ];
}
