/**
 * capi-remote's custom resources, each declared once. The TypeScript types below are derived
 * from these schemas, and `crds/` is generated from them (`npm run gen:crds`).
 *
 * Both served versions (v1beta1 and v1beta2) use the same schema: it holds every field either
 * version of k0smotron's kinds has, under k0smotron's JSON names, so an object written through
 * one version reads back through the other with nothing lost and no conversion webhook
 * (conversion strategy `None`). Where k0smotron renamed a field between versions
 * (`customCleanUpCommands` -> `cleanUpCommands`, `status.ready` -> `status.initialization.provisioned`)
 * both names exist; readers use the helpers in `compat.ts`, and the controller writes both status
 * spellings.
 */

import { Type } from "@sinclair/typebox";
import { ConditionList } from "../conditions.js";
import {
  Bool,
  Enum,
  Int,
  type KubeList,
  type KubeObject,
  List,
  Obj,
  Optional,
  type Static,
  Str,
  StringMap,
  TemplateMeta,
} from "../schema/k8s.js";

export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_USER = "root";
/** k0smotron's default working directory for uploaded files and scripts. */
export const DEFAULT_WORKING_DIR = "/etc/k0smotron";

// ---------------------------------------------------------------------------------------------
// Pieces shared by several kinds

/** A reference to a Secret in the same namespace. */
export const SecretRef = Obj(
  {
    name: Str({
      maxLength: 253,
      description: "Name of the Secret, in the object's namespace. Empty (as Go clients write it) means none.",
    }),
  },
  { description: "A Secret in the same namespace; its key `value` holds the SSH private key." },
);

const address = Str({
  maxLength: 255,
  description: "IP address (v4 or v6, without brackets) or DNS name of the machine.",
  validations: [
    {
      rule: "self == '' || self.matches('^[A-Za-z0-9:]([A-Za-z0-9._:%-]*[A-Za-z0-9.])?$')",
      message:
        "must be a bare IP address or DNS name: no scheme, user, port, brackets, slashes or spaces (the port goes in spec.port). capi-remote checks this on purpose where k0smotron accepts any string and fails on connect",
    },
  ],
});

const port = Int({
  default: DEFAULT_SSH_PORT,
  description: "SSH port of the machine (1-65535); 0, as Go clients write an unset port, means 22.",
  validations: [
    {
      rule: "self >= 0 && self <= 65535",
      message:
        "must be 1-65535, or 0 for the default 22. capi-remote checks this on purpose where k0smotron accepts any integer and fails on connect",
    },
  ],
});

const user = Str({
  maxLength: 256,
  default: DEFAULT_SSH_USER,
  description: 'User to log in as ("" means root). A non-root user needs spec.useSudo.',
});

const workingDir = Str({
  maxLength: 4096,
  default: DEFAULT_WORKING_DIR,
  description: 'Directory on the machine where bootstrap files and scripts are written ("" means /etc/k0smotron).',
  validations: [
    {
      rule: "self == '' || self.startsWith('/')",
      message:
        "must be an absolute path (start with /). capi-remote checks this on purpose where k0smotron accepts any string",
    },
  ],
});

const commandList = (description: string) => List(Str({ maxLength: 65536 }), { maxItems: 256, description });

const cleanupRule = {
  rule: "!(has(self.cleanUpCommands) && has(self.customCleanUpCommands))",
  message: "set only one of cleanUpCommands and customCleanUpCommands (the v1beta1 name of the same list)",
  fieldPath: ".cleanUpCommands",
};

const hostKeyList = List(Str({ minLength: 1, maxLength: 16384 }), {
  maxItems: 64,
  description:
    'Pinned SSH host keys: known_hosts lines ("host ssh-ed25519 AAAA...") or bare "ssh-ed25519 AAAA..." entries. The machine must present one of them.',
});

/** A key in a Secret in the same namespace. */
export const SecretKeyRef = Obj({
  name: Str({ minLength: 1, maxLength: 253, description: "Name of the Secret, in the object's namespace." }),
  key: Optional(Str({ minLength: 1, maxLength: 253, default: "known_hosts", description: "Key in the Secret." })),
});

export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 15;
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 1800;
export const DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS = 3600;

export const Timeouts = Obj(
  {
    connectSeconds: Optional(
      Int({
        minimum: 1,
        maximum: 600,
        default: DEFAULT_CONNECT_TIMEOUT_SECONDS,
        description: "SSH connect and handshake.",
      }),
    ),
    commandSeconds: Optional(
      Int({
        minimum: 1,
        maximum: 86400,
        default: DEFAULT_COMMAND_TIMEOUT_SECONDS,
        description: "One bootstrap or cleanup step.",
      }),
    ),
    bootstrapSeconds: Optional(
      Int({
        minimum: 1,
        maximum: 172800,
        default: DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS,
        description: "The whole bootstrap.",
      }),
    ),
  },
  { description: "Time limits (capi-remote addition)." },
);

/** A jump host the SSH connection goes through. */
export const Bastion = Obj(
  {
    address,
    port: Optional(port),
    user: Optional(user),
    sshKeyRef: SecretRef,
    hostKeys: Optional(hostKeyList),
  },
  { description: "A jump host (bastion) the SSH connection goes through (capi-remote addition)." },
);

/**
 * How to reach and use a machine. A RemoteMachine and a pool machine have the same connection
 * fields; a field added here appears on both kinds, in both versions, in types and CRDs.
 */
export const connectionFields = {
  port: Optional(port),
  user: Optional(user),
  useSudo: Optional(Bool({ description: "Run commands through `sudo -n` (for a non-root user)." })),
  commandsAsScript: Optional(
    Bool({
      default: false,
      description: "Run the bootstrap commands as one script file instead of one by one.",
    }),
  ),
  workingDir: Optional(workingDir),
  customCleanUpCommands: Optional(
    commandList("Commands run on deletion instead of the default cleanup (v1beta1 name of cleanUpCommands)."),
  ),
  cleanUpCommands: Optional(commandList("Commands run on deletion instead of the default cleanup.")),
  hostKeys: Optional(hostKeyList),
  hostKeysSecretRef: Optional(SecretKeyRef),
  insecureSkipHostKeyVerification: Optional(
    Bool({
      description:
        "Accept any host key, as k0smotron does. Without it, keys are pinned (hostKeys, hostKeysSecretRef) or recorded on first use and enforced afterwards.",
    }),
  ),
  bastion: Optional(Bastion),
  timeouts: Optional(Timeouts),
};

const openList = {
  type: "array",
  maxItems: 64,
  items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
};

/** Provisioning through a Kubernetes Job (for access through Teleport, Okta ASA and the like). */
export const ProvisionJob = Obj(
  {
    sshCommand: Optional(
      Str({ minLength: 1, maxLength: 4096, default: "ssh", description: "ssh command the Job runs." }),
    ),
    scpCommand: Optional(
      Str({ minLength: 1, maxLength: 4096, default: "scp", description: "scp command the Job runs." }),
    ),
    jobSpecTemplate: Optional(
      Type.Unsafe<{ metadata?: Record<string, unknown>; spec?: Record<string, unknown> }>({
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
        description: "batch/v1 JobTemplateSpec the provisioning Job is made from.",
        // Only what the validation rules below read is declared; the rest is kept as written.
        properties: {
          spec: {
            type: "object",
            "x-kubernetes-preserve-unknown-fields": true,
            properties: {
              containers: openList,
              template: {
                type: "object",
                "x-kubernetes-preserve-unknown-fields": true,
                properties: {
                  spec: {
                    type: "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    properties: { containers: openList },
                  },
                },
              },
            },
          },
        },
      }),
    ),
  },
  {
    description: "Provision the machine with a Kubernetes Job instead of the controller's SSH client.",
    validations: [
      {
        rule: "!has(self.jobSpecTemplate) || !has(self.jobSpecTemplate.spec) || !has(self.jobSpecTemplate.spec.containers)",
        message:
          "containers go under jobSpecTemplate.spec.template.spec.containers (a JobTemplateSpec), not jobSpecTemplate.spec.containers: a Job drops them there and would run without your container (k0smotron's Teleport and Okta ASA docs show them one level too high; k0smotron's API server rejects that shape too)",
        fieldPath: ".jobSpecTemplate.spec",
        reason: "FieldValueInvalid",
      },
      {
        rule: "has(self.jobSpecTemplate) && has(self.jobSpecTemplate.spec) && has(self.jobSpecTemplate.spec.template) && has(self.jobSpecTemplate.spec.template.spec) && has(self.jobSpecTemplate.spec.template.spec.containers) && size(self.jobSpecTemplate.spec.template.spec.containers) > 0",
        message:
          "jobSpecTemplate.spec.template.spec.containers must name the container that runs sshCommand and scpCommand (an image with ssh or tsh): the Job runs it, with its own entrypoint. capi-remote checks this on purpose at admission; k0smotron requires it only once jobSpecTemplate is given, and without one makes a Job with no container",
        fieldPath: ".jobSpecTemplate",
        reason: "FieldValueRequired",
      },
    ],
  },
);

export const MachineAddress = Obj({
  type: Enum(["Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"] as const),
  address: Str({ minLength: 1, maxLength: 256 }),
});

/** The v1beta1-contract status fields a v1beta2 object keeps under `status.deprecated.v1beta1`. */
const DeprecatedV1beta1 = Obj({
  v1beta1: Optional(
    Obj({
      conditions: Optional(ConditionList),
      failureReason: Optional(Str({ maxLength: 256 })),
      failureMessage: Optional(Str({ maxLength: 10240 })),
    }),
  ),
});

const Initialization = Obj({
  provisioned: Optional(Bool({ description: "True once the infrastructure is provisioned (v1beta2 contract)." })),
});

/** A Kubernetes label selector (metav1.LabelSelector). */
export const LabelSelector = Obj(
  {
    matchLabels: Optional(StringMap({ description: "Labels the pool machine must carry, all of them." })),
    matchExpressions: Optional(
      List(
        Obj({
          key: Str({ minLength: 1, maxLength: 317 }),
          operator: Enum(["In", "NotIn", "Exists", "DoesNotExist"] as const),
          values: Optional(List(Str({ maxLength: 63 }), { maxItems: 64 })),
        }),
        { maxItems: 32 },
      ),
    ),
  },
  {
    description: "Only pool machines whose labels match are claimed (capi-remote addition).",
    validations: [
      {
        rule: "!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",
        message: "matchExpressions: In and NotIn need values; Exists and DoesNotExist take none",
      },
    ],
  },
);

const poolSelector = LabelSelector;

// ---------------------------------------------------------------------------------------------
// RemoteMachine

export const RemoteMachineSpecSchema = Obj(
  {
    pool: Optional(
      Str({
        maxLength: 253,
        description: 'Pool to take a PooledRemoteMachine from; its connection fields are copied here ("" means none).',
        validations: [
          {
            rule: "self == oldSelf",
            message:
              "is immutable: a RemoteMachine cannot change pools (its pool machine stays claimed). capi-remote checks this on purpose; k0smotron accepts the change",
          },
        ],
      }),
    ),
    poolSelector: Optional(poolSelector),
    providerID: Optional(
      Str({
        maxLength: 512,
        description: "Set by the controller once provisioned: remote-machine://<address>:<port>.",
        validations: [
          {
            rule: "oldSelf == '' || self == oldSelf",
            message:
              "is immutable once set (Cluster API and the Node are matched on it). capi-remote checks this on purpose; k0smotron accepts the change",
          },
        ],
      }),
    ),
    address: Optional(address),
    ...connectionFields,
    sshKeyRef: Optional(SecretRef),
    provisionJob: Optional(ProvisionJob),
  },
  {
    validations: [
      {
        rule: "(has(self.address) && self.address != '') || (has(self.pool) && self.pool != '')",
        message:
          "spec.address or spec.pool must be set: name the machine, or the pool to take one from. capi-remote checks this on purpose at admission; k0smotron accepts the object and reports MissingFields later",
        fieldPath: ".address",
        reason: "FieldValueRequired",
      },
      {
        rule: "!has(self.address) || self.address == '' || has(self.sshKeyRef) || has(self.provisionJob)",
        message:
          "spec.sshKeyRef is required when spec.address is set (a Secret whose key `value` holds the private key), unless spec.provisionJob provisions the machine. capi-remote checks this on purpose at admission; k0smotron accepts the object and reports MissingFields later",
        fieldPath: ".sshKeyRef",
        reason: "FieldValueRequired",
      },
      cleanupRule,
    ],
  },
);
export type RemoteMachineSpec = Static<typeof RemoteMachineSpecSchema>;

export const BootstrapStatus = Obj(
  {
    phase: Optional(Enum(["Pending", "Running", "Succeeded", "Failed"] as const)),
    step: Optional(Int({ minimum: 0, description: "The step running or last run (1-based)." })),
    steps: Optional(Int({ minimum: 0, description: "Steps in the plan." })),
    stepName: Optional(Str({ maxLength: 1024 })),
    startedAt: Optional(Str({ format: "date-time" })),
    finishedAt: Optional(Str({ format: "date-time" })),
    exitCode: Optional(Int()),
  },
  { description: "Progress of the bootstrap on the machine (capi-remote addition)." },
);

export const HostKeyStatus = Obj(
  {
    fingerprint: Optional(Str({ maxLength: 256, description: "SHA256 fingerprint of the key the machine presented." })),
    source: Optional(Enum(["Pinned", "FirstUse", "Unchecked"] as const)),
  },
  { description: "How the machine's host key was checked (capi-remote addition)." },
);

export const RemoteMachineStatusSchema = Obj({
  ready: Optional(Bool({ description: "True once provisioned (v1beta1 contract)." })),
  initialization: Optional(Initialization),
  addresses: Optional(List(MachineAddress, { maxItems: 32 })),
  failureReason: Optional(Str({ maxLength: 256 })),
  failureMessage: Optional(Str({ maxLength: 10240 })),
  conditions: Optional(ConditionList),
  deprecated: Optional(DeprecatedV1beta1),
  bootstrap: Optional(BootstrapStatus),
  hostKey: Optional(HostKeyStatus),
});
export type RemoteMachineStatus = Static<typeof RemoteMachineStatusSchema>;
export type RemoteMachine = KubeObject<RemoteMachineSpec, RemoteMachineStatus>;
export type RemoteMachineList = KubeList<RemoteMachine>;

// ---------------------------------------------------------------------------------------------
// PooledRemoteMachine

export const PooledMachineSchema = Obj({
  address,
  ...connectionFields,
  sshKeyRef: SecretRef,
});

export const PooledRemoteMachineSpecSchema = Obj({
  pool: Str({
    maxLength: 253,
    description: "Name of the pool this machine belongs to.",
  }),
  machine: Obj(PooledMachineSchema.properties, {
    description: "How to reach the machine.",
    validations: [cleanupRule],
  }),
  cordoned: Optional(
    Bool({
      description:
        "Take the machine out of service: it is never handed out; a machine in use stays in use until it is freed, then stays out of the pool (capi-remote addition).",
    }),
  ),
});
export type PooledRemoteMachineSpec = Static<typeof PooledRemoteMachineSpecSchema>;

export const RemoteMachineRef = Obj({
  name: Str({ maxLength: 253 }),
  namespace: Str({ maxLength: 63 }),
});

/** Where a pool machine is in its life; derived from its annotations, spec and claimant. */
export const POOL_PHASES = [
  "Available",
  "Claimed",
  "Provisioning",
  "InUse",
  "Failed",
  "Cleaning",
  "Cordoned",
  "Quarantined",
] as const;
export type PoolPhase = (typeof POOL_PHASES)[number];

export const MachineFacts = Obj(
  {
    hostname: Optional(Str({ maxLength: 253 })),
    operatingSystem: Optional(Str({ maxLength: 64, description: "Kernel name in lower case (linux)." })),
    osImage: Optional(Str({ maxLength: 256, description: "PRETTY_NAME of /etc/os-release." })),
    kernelVersion: Optional(Str({ maxLength: 256 })),
    architecture: Optional(Str({ maxLength: 64, description: "Go/Kubernetes spelling: amd64, arm64, ..." })),
    cpus: Optional(Int({ minimum: 0 })),
    memory: Optional(Str({ maxLength: 64, description: "Total memory as a Kubernetes quantity (Ki)." })),
    gatheredAt: Optional(Str({ format: "date-time" })),
  },
  { description: "What the machine reported over SSH when it joined the pool." },
);
export type MachineFacts = Static<typeof MachineFacts>;

export const PooledRemoteMachineStatusSchema = Obj({
  reserved: Optional(Bool({ description: "True while a RemoteMachine holds this machine." })),
  machineRef: Optional(RemoteMachineRef),
  phase: Optional(Enum(POOL_PHASES)),
  cordoned: Optional(Bool({ description: "Mirrors spec.cordoned once the controller has seen it." })),
  facts: Optional(MachineFacts),
  hostKey: Optional(HostKeyStatus),
  observedGeneration: Optional(Int({ minimum: 0 })),
  conditions: Optional(ConditionList),
});
export type PooledRemoteMachineStatus = Static<typeof PooledRemoteMachineStatusSchema>;
export type PooledRemoteMachine = KubeObject<PooledRemoteMachineSpec, PooledRemoteMachineStatus>;
export type PooledRemoteMachineList = KubeList<PooledRemoteMachine>;

// ---------------------------------------------------------------------------------------------
// RemoteMachineTemplate

export const RemoteMachineTemplateResourceSpec = Obj(
  {
    pool: Optional(Str({ maxLength: 253, description: "Pool the machines made from this template come from." })),
    poolSelector: Optional(poolSelector),
    provisionJob: Optional(ProvisionJob),
  },
  {
    validations: [
      {
        rule: "has(self.pool) && self.pool != ''",
        message:
          "spec.template.spec.pool is required: machines made from a template come from a pool. capi-remote checks this on purpose at admission; k0smotron accepts the template and its machines fail with MissingFields",
        fieldPath: ".pool",
        reason: "FieldValueRequired",
      },
    ],
  },
);

export const RemoteMachineTemplateSpecSchema = Obj({
  template: Obj({
    metadata: Optional(TemplateMeta),
    spec: RemoteMachineTemplateResourceSpec,
  }),
});
export type RemoteMachineTemplateSpec = Static<typeof RemoteMachineTemplateSpecSchema>;

export const PoolCounts = Obj(
  {
    name: Optional(Str({ maxLength: 253 })),
    total: Optional(Int({ minimum: 0 })),
    available: Optional(Int({ minimum: 0, description: "Free, not cordoned, not quarantined." })),
    claimed: Optional(Int({ minimum: 0, description: "Held by a RemoteMachine (provisioning, in use or cleaning)." })),
    inUse: Optional(Int({ minimum: 0, description: "Provisioned and running a node." })),
    cordoned: Optional(Int({ minimum: 0 })),
    quarantined: Optional(Int({ minimum: 0 })),
  },
  { description: "Counts of the template's pool (machines matching its selector)." },
);
export type PoolCounts = Static<typeof PoolCounts>;

export const RemoteMachineTemplateStatusSchema = Obj({
  pool: Optional(PoolCounts),
  capacity: Optional(
    StringMap({
      description:
        "Resources of one machine (cpu, memory) when the pool's machines are alike; the cluster autoscaler reads it to scale from zero (v1beta2 contract).",
    }),
  ),
  nodeInfo: Optional(
    Obj({
      architecture: Optional(Str({ maxLength: 64 })),
      operatingSystem: Optional(Str({ maxLength: 64 })),
    }),
  ),
  conditions: Optional(ConditionList),
});
export type RemoteMachineTemplateStatus = Static<typeof RemoteMachineTemplateStatusSchema>;
export type RemoteMachineTemplate = KubeObject<RemoteMachineTemplateSpec, RemoteMachineTemplateStatus>;
export type RemoteMachineTemplateList = KubeList<RemoteMachineTemplate>;

// ---------------------------------------------------------------------------------------------
// RemoteCluster and RemoteClusterTemplate

/** Cluster API's APIEndpoint: both fields optional (Go omits zero values), but not both absent. */
export const APIEndpoint = Type.Object(
  {
    host: Optional(Str({ minLength: 1, maxLength: 512, description: "Address of the control plane endpoint." })),
    port: Optional(Int({ minimum: 1, maximum: 65535, description: "Port of the control plane endpoint." })),
  },
  { minProperties: 1 },
);

export const RemoteClusterSpecSchema = Obj({
  controlPlaneEndpoint: Optional(APIEndpoint),
});
export type RemoteClusterSpec = Static<typeof RemoteClusterSpecSchema>;

export const RemoteClusterStatusSchema = Obj({
  ready: Optional(Bool({ description: "True once provisioned (v1beta1 contract)." })),
  initialization: Optional(Initialization),
  conditions: Optional(ConditionList),
  deprecated: Optional(DeprecatedV1beta1),
});
export type RemoteClusterStatus = Static<typeof RemoteClusterStatusSchema>;
export type RemoteCluster = KubeObject<RemoteClusterSpec, RemoteClusterStatus>;
export type RemoteClusterList = KubeList<RemoteCluster>;

export const RemoteClusterTemplateSpecSchema = Obj({
  template: Obj({
    metadata: Optional(TemplateMeta),
    spec: RemoteClusterSpecSchema,
  }),
});
export type RemoteClusterTemplateSpec = Static<typeof RemoteClusterTemplateSpecSchema>;
export type RemoteClusterTemplate = KubeObject<RemoteClusterTemplateSpec, Record<string, never>>;
export type RemoteClusterTemplateList = KubeList<RemoteClusterTemplate>;

export {
  PoolAnnotations,
  type QuarantineRecord,
  quarantineOf,
  REMOTE_MACHINE_FINALIZER,
  RemoteAnnotations,
  returningAfterOf,
} from "../contract.js";
