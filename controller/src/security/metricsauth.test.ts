import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metricsAuthorizer, type ReviewApi } from "./metricsauth.js";

/** Token and access reviews as the API server answers them (pure authorizer logic). */
function reviews(users: Record<string, { name: string; allowed: boolean }>) {
  const calls: string[] = [];
  const api: ReviewApi = {
    create: async <T>(r: { plural: string }, _ns: undefined, body: unknown): Promise<T> => {
      calls.push(r.plural);
      const b = body as {
        spec: { token?: string; user?: string; nonResourceAttributes?: { path: string; verb: string } };
      };
      if (r.plural === "tokenreviews") {
        const u = users[b.spec.token ?? ""];
        return { status: u ? { authenticated: true, user: { username: u.name } } : { authenticated: false } } as T;
      }
      const u = Object.values(users).find((x) => x.name === b.spec.user);
      const ok =
        !!u?.allowed &&
        b.spec.nonResourceAttributes?.path === "/metrics" &&
        b.spec.nonResourceAttributes.verb === "get";
      return { status: { allowed: ok } } as T;
    },
  };
  return { api, calls };
}

describe("metricsAuthorizer: /metrics for identities allowed to get it (L8)", () => {
  it("401 without a valid bearer token, 403 without the right, 200 with it", async () => {
    const { api } = reviews({ good: { name: "prometheus", allowed: true }, other: { name: "tenant", allowed: false } });
    const auth = metricsAuthorizer(api);
    assert.equal((await auth(undefined)).code, 401);
    assert.equal((await auth("Basic abc")).code, 401);
    assert.equal((await auth("Bearer nope")).code, 401);
    assert.equal((await auth("Bearer other")).code, 403);
    assert.equal((await auth("Bearer good")).code, 200);
  });
  it("caches answers for a while, then asks again", async () => {
    let now = 0;
    const { api, calls } = reviews({ good: { name: "prometheus", allowed: true } });
    const auth = metricsAuthorizer(api, "/metrics", () => now);
    await auth("Bearer good");
    await auth("Bearer good");
    assert.deepEqual(calls, ["tokenreviews", "subjectaccessreviews"]);
    now = 61_000;
    await auth("Bearer good");
    assert.equal(calls.length, 4);
  });
  it("answers 500, uncached, when the API server cannot review", async () => {
    let fail = true;
    const api: ReviewApi = {
      create: async <T>(): Promise<T> => {
        if (fail) throw new Error("down");
        return { status: { authenticated: true, user: { username: "p" }, allowed: true } } as T;
      },
    };
    const auth = metricsAuthorizer(api);
    assert.equal((await auth("Bearer t")).code, 500);
    fail = false;
    assert.equal((await auth("Bearer t")).code, 200);
  });
});
