/**
 * Who may read /metrics: the way Cluster API providers serve metrics now (controller-runtime's
 * `WithAuthenticationAndAuthorization` filter), a bearer token is checked with the API server:
 * a TokenReview says who it is, a SubjectAccessReview whether that identity may `get` the
 * non-resource URL `/metrics` (grant it with the shipped ClusterRole
 * `capi-remote-metrics-reader`). Answers are cached briefly by a hash of the token, so a
 * scraper costs two API requests a minute, not two per scrape.
 */
import { createHash } from "node:crypto";

export interface ReviewApi {
  create<T>(
    r: { group: string; version: string; plural: string; namespaced: boolean },
    ns: undefined,
    body: unknown,
  ): Promise<T>;
}

const TOKEN_REVIEWS = { group: "authentication.k8s.io", version: "v1", plural: "tokenreviews", namespaced: false };
const ACCESS_REVIEWS = {
  group: "authorization.k8s.io",
  version: "v1",
  plural: "subjectaccessreviews",
  namespaced: false,
};

export type AuthAnswer = { code: 200 } | { code: 401 | 403 | 500; message: string };

interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Bounds of the answer cache. */
const ALLOWED_TTL_MS = 60_000;
const DENIED_TTL_MS = 10_000;
const MAX_CACHED = 1_000;
/** Longer Authorization headers are refused without asking the API server. */
const MAX_TOKEN_BYTES = 16 * 1024;

export function metricsAuthorizer(api: ReviewApi, path = "/metrics", now: () => number = () => performance.now()) {
  const cache = new Map<string, { answer: AuthAnswer; until: number }>();
  return async (authorization: string | undefined): Promise<AuthAnswer> => {
    const m = /^Bearer (\S+)$/i.exec(authorization ?? "");
    if (!m?.[1]) return { code: 401, message: "a bearer token is required" };
    const token = m[1];
    if (token.length > MAX_TOKEN_BYTES) return { code: 401, message: "token too long" };
    const key = createHash("sha256").update(token).digest("hex");
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.answer;
    let answer: AuthAnswer;
    try {
      const tr = await api.create<{ status?: { authenticated?: boolean; user?: UserInfo } }>(TOKEN_REVIEWS, undefined, {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token },
      });
      if (!tr.status?.authenticated || !tr.status.user) answer = { code: 401, message: "the token is not valid" };
      else {
        const u = tr.status.user;
        const sar = await api.create<{ status?: { allowed?: boolean } }>(ACCESS_REVIEWS, undefined, {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: u.username,
            uid: u.uid,
            groups: u.groups,
            extra: u.extra,
            nonResourceAttributes: { path, verb: "get" },
          },
        });
        answer = sar.status?.allowed
          ? { code: 200 }
          : { code: 403, message: `${u.username ?? "this identity"} may not get ${path}` };
      }
    } catch {
      // Not cached: the API server may be back at the next scrape.
      return { code: 500, message: "could not review the token" };
    }
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(key, { answer, until: now() + (answer.code === 200 ? ALLOWED_TTL_MS : DENIED_TTL_MS) });
    return answer;
  };
}
