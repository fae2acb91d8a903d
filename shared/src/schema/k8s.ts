/**
 * Building blocks for Kubernetes-flavoured JSON schemas.
 *
 * Every custom resource of capi-remote is declared once with TypeBox: the same object is the
 * TypeScript type (`Static<typeof X>`) and the CRD's `openAPIV3Schema`. TypeBox was chosen over
 * zod + a converter because its schemas *are* JSON Schema: what we write is what the API server
 * sees, Kubernetes extensions (`x-kubernetes-validations`, defaults, list types) are plain options,
 * and there is no conversion step that could drop or reshape a keyword.
 *
 * Only keywords a structural CRD schema accepts are produced here (no `patternProperties`,
 * `const`, `anyOf` of literals or `additionalProperties: false`).
 */
import { type Static, type TSchema, type TUnsafe, Type } from "@sinclair/typebox";

/** A CEL validation rule as `x-kubernetes-validations` expects it. */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath (relative to the schema node) of the field the message is about. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  /** Evaluate against the old object too, only on update (`oldSelf` available). */
  optionalOldSelf?: boolean;
}

/** Options added to a schema node for Kubernetes. */
export interface KubeOptions {
  description?: string;
  default?: unknown;
  validations?: CelRule[];
}

function kubeOptions(o: KubeOptions | undefined): Record<string, unknown> {
  if (!o) return {};
  const out: Record<string, unknown> = {};
  if (o.description !== undefined) out.description = o.description;
  if (o.default !== undefined) out.default = o.default;
  if (o.validations?.length) out["x-kubernetes-validations"] = o.validations;
  return out;
}

/** A string; `maxLength` keeps CEL cost estimates bounded. */
export function Str(o: KubeOptions & { minLength?: number; maxLength?: number; format?: string } = {}) {
  const { minLength, maxLength, format, ...k } = o;
  return Type.String({
    ...kubeOptions(k),
    ...(minLength !== undefined ? { minLength } : {}),
    ...(maxLength !== undefined ? { maxLength } : {}),
    ...(format !== undefined ? { format } : {}),
  });
}

/** A string restricted to a fixed set of values (an `enum`, which a structural schema accepts). */
export function Enum<const T extends readonly string[]>(values: T, o: KubeOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...kubeOptions(o) });
}

/** A 32-bit integer. */
export function Int(o: KubeOptions & { minimum?: number; maximum?: number } = {}) {
  const { minimum, maximum, ...k } = o;
  return Type.Integer({
    format: "int32",
    ...kubeOptions(k),
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
  });
}

/** A 64-bit integer. */
export function Int64(o: KubeOptions & { minimum?: number } = {}) {
  const { minimum, ...k } = o;
  return Type.Integer({ format: "int64", ...kubeOptions(k), ...(minimum !== undefined ? { minimum } : {}) });
}

export function Bool(o: KubeOptions = {}) {
  return Type.Boolean(kubeOptions(o));
}

/** An object with named properties; optional ones are wrapped in `Type.Optional`. */
export function Obj<P extends Record<string, TSchema>>(properties: P, o: KubeOptions = {}) {
  return Type.Object(properties, kubeOptions(o));
}

/** A list; `mapKeys` makes it `x-kubernetes-list-type: map` (server-side apply merges by key). */
export function List<T extends TSchema>(
  items: T,
  o: KubeOptions & { maxItems?: number; mapKeys?: string[]; set?: boolean } = {},
) {
  const { maxItems, mapKeys, set, ...k } = o;
  return Type.Array(items, {
    ...kubeOptions(k),
    ...(maxItems !== undefined ? { maxItems } : {}),
    ...(mapKeys ? { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": mapKeys } : {}),
    ...(set ? { "x-kubernetes-list-type": "set" } : {}),
  });
}

/** A string-to-string map (labels, annotations). */
export function StringMap(o: KubeOptions = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string" },
    ...kubeOptions(o),
  });
}

/** An embedded object the API server keeps verbatim (for example a Job template). */
export function Opaque<T>(o: KubeOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: "object", "x-kubernetes-preserve-unknown-fields": true, ...kubeOptions(o) });
}

/** RFC 3339 timestamp, as Kubernetes writes them. */
export function Time(o: KubeOptions = {}) {
  return Str({ ...o, format: "date-time" });
}

export const Optional = Type.Optional;
export type { Static, TSchema };

/** The `metadata` a template may carry to its objects (labels and annotations only). */
export const TemplateMeta = Obj({
  labels: Optional(StringMap({ description: "Labels added to objects made from the template." })),
  annotations: Optional(StringMap({ description: "Annotations added to objects made from the template." })),
});

/** Object metadata as read back from the API server (the fields capi-remote looks at). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A top-level Kubernetes object of a kind whose spec and status are given. */
export interface KubeObject<Spec, Status = undefined> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

export interface KubeList<T> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}
