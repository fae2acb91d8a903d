/**
 * Status strings come from hosts (hostnames, OS names, step output) and users (file paths):
 * a value over the schema's `maxLength` makes the API server refuse the whole status write with
 * 422, on every pass, so a failure or a success is never recorded. Every status is fitted to its
 * schema before it is written: strings cut to `maxLength` (counted in code points, as the API
 * server counts them; cut values end in a marker), arrays to `maxItems`.
 */
import type { TSchema } from "./schema/k8s.js";

const MARK = " …[truncated]";

/** `s` cut to at most `max` code points, ending in a marker when cut (room permitting). */
export function truncateString(s: string, max: number): string {
  if (s.length <= max) return s; // UTF-16 units >= code points
  const cps = Array.from(s);
  if (cps.length <= max) return s;
  if (max <= MARK.length * 2) return cps.slice(0, max).join("");
  return cps.slice(0, max - Array.from(MARK).length).join("") + MARK;
}

type Schema = {
  type?: string;
  maxLength?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
};

/** A copy of `value` whose strings and arrays fit `schema`'s maxLength and maxItems. */
export function fitToSchema<T>(value: T, schema: TSchema): T {
  return fit(value, schema as Schema) as T;
}

function fit(value: unknown, schema: Schema | undefined): unknown {
  if (!schema || value === null || value === undefined) return value;
  if (typeof value === "string")
    return schema.maxLength !== undefined ? truncateString(value, schema.maxLength) : value;
  if (Array.isArray(value)) {
    const kept = schema.maxItems !== undefined ? value.slice(0, schema.maxItems) : value;
    return kept.map((v) => fit(v, schema.items));
  }
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const sub =
        schema.properties?.[k] ??
        (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      out[k] = fit(v, sub);
    }
    return out;
  }
  return value;
}
