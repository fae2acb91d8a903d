/** Shapes of the API objects every floor above reads: a Secret, and any object with a name. */

export interface Secret {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
  data?: Record<string, string>;
  type?: string;
}

/** A Secret's value under `key`, decoded; undefined when absent. */
export function secretValue(s: Secret | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
}

export type Named = { metadata: { name: string; namespace?: string } };
