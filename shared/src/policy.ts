/**
 * The ValidatingAdmissionPolicies shipped with the CRDs, enforced by the API server itself (no
 * webhook server to run):
 *
 * - Pool machines: the connection fields of a claimed machine cannot change (the claimant copied
 *   them; a change would make the pool and the cluster disagree about which host is which), and
 *   the controller's bookkeeping annotations on it (claim, quarantine, returning-after, host
 *   key) are the controller's alone. Kubernetes RBAC cannot tell "may annotate" (Lens's Cordon
 *   and Release need `patch`) from "may edit the controller's records".
 * - RemoteMachines: once claimed from a pool, started or provisioned, the fields that say which
 *   host is reached, with which key, and what runs there on deletion cannot change, and the
 *   controller's annotations (host key, start, hostname, pool machine) are the controller's alone.
 *
 * "The controller" is its ServiceAccount's user name; the shipped manifests install it as
 * `capi-remote-manager` in `capi-remote-system`. Creates are not matched: `clusterctl move`
 * recreates objects with their annotations.
 */
import { PoolAnnotations, RemoteAnnotations } from "./contract.js";
import { GROUP, PROVIDER_LABEL, PROVIDER_NAME } from "./kinds.js";

export const CLAIM_POLICY_NAME = "pooledremotemachines-claim-lock.infrastructure.cluster.x-k8s.io";
export const CONNECTION_POLICY_NAME = "remotemachines-connection-lock.infrastructure.cluster.x-k8s.io";
/** The controller's identity as the shipped manifests install it. */
export const CONTROLLER_USER = "system:serviceaccount:capi-remote-system:capi-remote-manager";

/** Fields of a RemoteMachine's spec locked once it is claimed, started or provisioned. */
export const LOCKED_CONNECTION_FIELDS = [
  "address",
  "port",
  "user",
  "useSudo",
  "sshKeyRef",
  "bastion",
  "hostKeys",
  "hostKeysSecretRef",
  "insecureSkipHostKeyVerification",
  "cleanUpCommands",
  "customCleanUpCommands",
  "provisionJob",
] as const;
/** Pool-machine annotations only the controller may change while the machine is claimed. */
export const POOL_CONTROLLER_ANNOTATIONS = [
  PoolAnnotations.ClaimedBy,
  PoolAnnotations.ClaimedByUID,
  PoolAnnotations.Quarantined,
  PoolAnnotations.ReturningAfter,
  RemoteAnnotations.HostKey,
] as const;
/**
 * RemoteMachine annotations only the controller may change once set. The cleanup attempts are
 * among them (a reset would grant a deleted machine's cleanup new attempts on a pool machine);
 * the bootstrap retry record is not: any edit of the object's annotations or spec opens the retry
 * gate anyway, and the controller bounds the wait it reads back.
 */
export const REMOTE_CONTROLLER_ANNOTATIONS = [
  RemoteAnnotations.HostKey,
  RemoteAnnotations.BootstrapStarted,
  RemoteAnnotations.Hostname,
  RemoteAnnotations.PoolMachine,
  RemoteAnnotations.CleanupAttempts,
] as const;

/** CEL: the annotation `key` of `obj` ("object" or "oldObject"), '' when absent. */
const ann = (obj: string, key: string) =>
  `(has(${obj}.metadata.annotations) && '${key}' in ${obj}.metadata.annotations ? ${obj}.metadata.annotations['${key}'] : '')`;
/** CEL: spec field `f` is the same in object and oldObject (absent in both counts as the same). */
const same = (f: string) =>
  `(has(object.spec.${f}) == has(oldObject.spec.${f}) && (!has(object.spec.${f}) || object.spec.${f} == oldObject.spec.${f}))`;

const binding = (name: string, labels: Record<string, string>) => ({
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingAdmissionPolicyBinding",
  metadata: { name, labels },
  spec: { policyName: name, validationActions: ["Deny"] },
});

export function claimPolicy(controllerUser = CONTROLLER_USER): Record<string, unknown>[] {
  const claimedBy = PoolAnnotations.ClaimedBy;
  const labels = { [PROVIDER_LABEL]: PROVIDER_NAME };
  const isController = { name: "isController", expression: `request.userInfo.username == '${controllerUser}'` };
  const rule = (resource: string) => ({
    apiGroups: [GROUP],
    apiVersions: ["*"],
    operations: ["UPDATE"],
    // Only the main resource: status writes pass.
    resources: [resource],
  });
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: CLAIM_POLICY_NAME, labels },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [rule("pooledremotemachines")] },
        variables: [{ name: "claimedBy", expression: ann("oldObject", claimedBy) }, isController],
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
          ...POOL_CONTROLLER_ANNOTATIONS.map((key) => ({
            expression: `variables.isController || variables.claimedBy == '' || ${ann("object", key)} == ${ann("oldObject", key)}`,
            messageExpression: `'annotation ${key} of pool machine ' + object.metadata.name + ' is the controller\\'s record while RemoteMachine ' + variables.claimedBy + ' holds it; only the controller changes it (to free the machine, use the annotation remote.infrastructure.cluster.x-k8s.io/release)'`,
            reason: "Forbidden",
          })),
        ],
      },
    },
    binding(CLAIM_POLICY_NAME, labels),
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: CONNECTION_POLICY_NAME, labels },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [rule("remotemachines")] },
        variables: [
          {
            name: "locked",
            expression: `(has(oldObject.spec.providerID) && oldObject.spec.providerID != '') || ${ann("oldObject", RemoteAnnotations.PoolMachine)} != '' || ${ann("oldObject", RemoteAnnotations.BootstrapStarted)} != ''`,
          },
          isController,
        ],
        validations: [
          ...LOCKED_CONNECTION_FIELDS.map((f) => ({
            expression: `variables.isController || !variables.locked || ${same(f)}`,
            messageExpression: `'spec.${f} of RemoteMachine ' + object.metadata.name + ' cannot change once it is claimed, started or provisioned: it says which host is reached and what runs there; delete the Machine to replace it'`,
            reason: "Forbidden",
          })),
          ...REMOTE_CONTROLLER_ANNOTATIONS.map((key) => ({
            expression: `variables.isController || ${ann("oldObject", key)} == '' || ${ann("object", key)} == ${ann("oldObject", key)}`,
            messageExpression: `'annotation ${key} of RemoteMachine ' + object.metadata.name + ' is the controller\\'s record; only the controller changes it'`,
            reason: "Forbidden",
          })),
        ],
      },
    },
    binding(CONNECTION_POLICY_NAME, labels),
  ];
}
