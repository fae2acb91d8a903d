/**
 * A small typed REST client over @kubernetes/client-node's KubeConfig (which handles kubeconfig
 * files, in-cluster config and every auth method). Requests send bodies exactly as given, with
 * explicit patch types: client-node's generated clients re-serialize bodies through typed models
 * and default to strategic merge patch, which custom resources reject.
 */
import { request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { createSecureContext } from "node:tls";
import type { KubeConfig } from "@kubernetes/client-node";
import { LineSplitter, Tail } from "../ssh/output.js";

export interface Resource {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export const R = {
  secrets: { group: "", version: "v1", plural: "secrets", namespaced: true },
  events: { group: "", version: "v1", plural: "events", namespaced: true },
  nodes: { group: "", version: "v1", plural: "nodes", namespaced: false },
  leases: { group: "coordination.k8s.io", version: "v1", plural: "leases", namespaced: true },
  jobs: { group: "batch", version: "v1", plural: "jobs", namespaced: true },
  clusters: { group: "cluster.x-k8s.io", version: "v1beta2", plural: "clusters", namespaced: true },
  machines: { group: "cluster.x-k8s.io", version: "v1beta2", plural: "machines", namespaced: true },
  remoteMachines: {
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remotemachines",
    namespaced: true,
  },
  remoteClusters: {
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remoteclusters",
    namespaced: true,
  },
  remoteMachineTemplates: {
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remotemachinetemplates",
    namespaced: true,
  },
  pooledRemoteMachines: {
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "pooledremotemachines",
    namespaced: true,
  },
} as const satisfies Record<string, Resource>;

/**
 * The resource a request path addresses, for metrics: "remotemachines", "remotemachines/status",
 * "leases"; never an object name (bounded label values).
 */
export function resourceOfPath(path: string): string {
  const parts = (path.split("?")[0] ?? "").split("/").filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let i = parts[0] === "api" ? 2 : 3;
  if (parts[i] === "namespaces" && parts.length > i + 2) i += 2;
  else if (parts[i] === "namespaces") return "namespaces";
  const resource = parts[i] ?? "";
  const sub = parts[i + 2];
  return sub ? `${resource}/${sub}` : resource;
}

/** An error answer from the API server; `message` is the server's Status message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The error for a non-2xx answer: the server's Status message and reason when it sent one. */
function statusError(status: number, body: string, fallback: string): ApiError {
  try {
    const st = JSON.parse(body) as { message?: string; reason?: string };
    return new ApiError(status, st.message || fallback, st.reason);
  } catch {
    return new ApiError(status, fallback);
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;

/** Path of a collection or object. */
export function resourcePath(r: Resource, namespace?: string, name?: string, sub?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ""}${sub ? `/${sub}` : ""}`;
}

/**
 * Accept headers that ask the API server for metadata only (PartialObjectMetadata), as
 * client-go's metadata client does: a list or watch of Secrets then carries no data at all.
 * Plain JSON is the fallback a server without it answers with.
 */
export const METADATA_ONLY = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
  /** A watch's events and a single object. */
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
} as const;

/** How a request is sent: its body's type, how long it may take, what it accepts back. */
interface RequestShape {
  contentType?: string;
  timeoutMs?: number;
  accept?: string;
}

export type PatchType = "merge" | "json" | "apply";
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/**
 * Bounds on what a server may send. The management cluster's API server is trusted, but a
 * workload cluster's is whatever the tenant's `<cluster>-kubeconfig` Secret names: it may answer
 * without end, in one endless line, or one byte at a time.
 */
export interface ResponseLimits {
  /** A whole response body (a watch is counted per event instead). */
  bodyBytes: number;
  /** One watch event (one line of the stream). */
  eventBytes: number;
  /** A request's whole duration, however slowly its bytes come (watches have their own guard). */
  requestMs: number;
}

const MiB = 1024 * 1024;

/**
 * The management cluster: no body limit (a page of 500 tenant Secrets may be hundreds of MiB, and
 * refusing it would stop the controller), events under etcd's object limit with room for JSON.
 */
export const MANAGEMENT_LIMITS: ResponseLimits = {
  bodyBytes: Number.POSITIVE_INFINITY,
  eventBytes: 64 * MiB,
  requestMs: 5 * 60_000,
};

/** A workload cluster: only Nodes are read, in pages of 100 (a Node is tens of KiB at most). */
export const WORKLOAD_LIMITS: ResponseLimits = { bodyBytes: 32 * MiB, eventBytes: 4 * MiB, requestMs: 60_000 };

/** A server's answer broke a limit; the request was cut off. */
export class ResponseTooLarge extends Error {
  override name = "ResponseTooLarge";
}

export interface RequestHooks {
  /** Called for every request (method, resource plural), e.g. to count API traffic. */
  /** Called when a request ends: lower-case verb, resource (see resourceOfPath), HTTP status (0: none). */
  onRequest?: (method: string, resource: string, code: number) => void;
}

export class KubeApi {
  readonly server: string;
  /**
   * One keep-alive agent for all requests. client-node's applyToHTTPSOptions creates a new
   * https.Agent on every call, so each request would open a new connection and pay a full TLS
   * handshake on both sides (it dominated the API server's CPU under load). The agent is made
   * again only when the TLS material changes (a rotated client certificate). Watches get an
   * agent of their own: each holds its connection for minutes, and must not take the requests'.
   */
  private agents: Record<"request" | "watch", { key: string; agent: HttpsAgent } | undefined> = {
    request: undefined,
    watch: undefined,
  };

  constructor(
    readonly kc: KubeConfig,
    private readonly hooks: RequestHooks = {},
    readonly limits: ResponseLimits = MANAGEMENT_LIMITS,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig names no current cluster");
    this.server = cluster.server.replace(/\/$/, "");
  }

  private agentFor(opts: RequestOptions, use: "request" | "watch"): HttpsAgent {
    const tls = [opts.ca, opts.cert, opts.key, opts.pfx, opts.passphrase, opts.rejectUnauthorized, opts.servername].map(
      (v) => (v === undefined ? "" : String(v)),
    );
    const key = tls.join("\u0000");
    const cur = this.agents[use];
    if (cur?.key === key) return cur.agent;
    cur?.agent.destroy();
    const made = {
      key,
      agent: new HttpsAgent({
        keepAlive: true,
        scheduling: "lifo",
        // A burst (50 bootstraps' start records at once) waits for a connection of the pool
        // rather than opening dozens more, each a TLS handshake on both sides just when the
        // API server is busiest (client-go shares one HTTP/2 connection for all of it).
        // Watches: one connection each, as many as there are informers.
        maxSockets: use === "request" ? 16 : Number.POSITIVE_INFINITY,
        // One TLS context for every connection: given only ca/cert/key, each new socket (a
        // burst of requests opens several) parses them again, which showed in profiles.
        secureContext: createSecureContext({
          ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
          ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
          ...(opts.key !== undefined ? { key: opts.key } : {}),
          ...(opts.pfx !== undefined ? { pfx: opts.pfx } : {}),
          ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
        }),
        ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      }),
    };
    this.agents[use] = made;
    return made.agent;
  }

  /** Adds the kubeconfig's credentials and TLS to `opts` and picks the agent; the request function to use. */
  private async prepare(url: URL, opts: RequestOptions, use: "request" | "watch") {
    await this.kc.applyToHTTPSOptions(opts);
    if (url.protocol !== "https:") return httpRequest;
    opts.agent = this.agentFor(opts, use);
    return httpsRequest;
  }

  /** Sends a request; resolves with the parsed JSON body, rejects with ApiError. */
  async request<T>(method: string, path: string, body?: unknown, o: RequestShape = {}): Promise<T> {
    try {
      return await this.send<T>(method, path, body, o);
    } catch (e) {
      // A kept-alive connection the server has closed (a restart, an idle timeout) fails on
      // reuse; the agent drops it, and one retry goes out on a new connection.
      const code = (e as { code?: string }).code;
      if (code !== "ECONNRESET" && code !== "EPIPE") throw e;
      return this.send<T>(method, path, body, o);
    }
  }

  private async send<T>(method: string, path: string, body: unknown, o: RequestShape): Promise<T> {
    const { contentType = "application/json", timeoutMs = 30_000, accept = "application/json" } = o;
    const url = new URL(this.server + path);
    const opts: RequestOptions = { method, headers: { accept }, timeout: timeoutMs };
    if (body !== undefined) (opts.headers as Record<string, string>)["content-type"] = contentType;
    const send = await this.prepare(url, opts, "request");
    const done = (code: number) => this.hooks.onRequest?.(method.toLowerCase(), resourceOfPath(path), code);
    const { bodyBytes, requestMs } = this.limits;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > bodyBytes)
            req.destroy(new ResponseTooLarge(`${method} ${url.pathname}: answer over ${bodyBytes} bytes; cut off`));
          else chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(deadline);
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          done(status);
          if (status >= 200 && status < 300) {
            try {
              resolve((text ? JSON.parse(text) : {}) as T);
            } catch (e) {
              reject(new Error(`${method} ${url.pathname}: answer is not JSON`, { cause: e }));
            }
            return;
          }
          reject(statusError(status, text, `${method} ${url.pathname}: HTTP ${status}`));
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out after ${timeoutMs} ms`)));
      // The socket timeout above only notices silence; a server trickling a byte now and then
      // is ended here.
      const deadline = setTimeout(
        () => req.destroy(new Error(`${method} ${url.pathname}: not answered in full within ${requestMs} ms`)),
        requestMs,
      );
      deadline.unref();
      req.on("error", (e) => {
        clearTimeout(deadline);
        done(0);
        reject(e);
      });
      req.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
    });
  }

  /**
   * Watches a collection (`query` without `watch=true`): calls `onEvent` per event as it arrives
   * and resolves when the server ends the stream; rejects on an error answer (ApiError), an
   * event over `limits.eventBytes` or one that is not JSON. `signal` ends it (resolving).
   */
  async watch(
    path: string,
    query: URLSearchParams,
    onEvent: (type: string, object: unknown) => void,
    signal: AbortSignal,
    accept = "application/json",
  ): Promise<void> {
    query.set("watch", "true");
    const url = new URL(`${this.server}${path}?${query}`);
    const opts: RequestOptions = { method: "GET", headers: { accept } };
    const send = await this.prepare(url, opts, "watch");
    const { eventBytes } = this.limits;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = send(url, opts, (res) => {
        const status = res.statusCode ?? 0;
        this.hooks.onRequest?.("watch", resourceOfPath(path), status);
        if (status !== 200) {
          const err = new Tail(64 * 1024);
          res.on("data", (c: Buffer) => err.push(c));
          res.on("end", () => reject(statusError(status, err.text(), `watch ${url.pathname}: HTTP ${status}`)));
          return;
        }
        const lines = new LineSplitter(eventBytes, (line) => {
          if (!line.trim()) return;
          let ev: { type?: string; object?: unknown };
          try {
            ev = JSON.parse(line) as typeof ev;
          } catch {
            req.destroy(new Error(`watch ${url.pathname}: an event is not JSON`));
            return;
          }
          onEvent(String(ev.type ?? ""), ev.object);
        });
        res.on("data", (c: Buffer) => {
          if (!lines.push(c))
            req.destroy(new ResponseTooLarge(`watch ${url.pathname}: an event over ${eventBytes} bytes; cut off`));
        });
        // Ended by the server (its timeoutSeconds), or the connection dropped (a restarting API
        // server): either way the informer goes on from the last resourceVersion it saw.
        res.on("end", () => resolve());
        res.on("error", (e) => (signal.aborted ? resolve() : reject(e)));
        res.on("close", () => resolve());
      });
      const stop = () => {
        req.destroy();
        resolve();
      };
      signal.addEventListener("abort", stop, { once: true });
      req.on("close", () => signal.removeEventListener("abort", stop));
      req.on("error", (e) => (signal.aborted ? resolve() : reject(e)));
      req.end();
    });
  }

  get<T>(r: Resource, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>("GET", resourcePath(r, namespace, name));
  }

  /** An object's metadata only (PartialObjectMetadata): a Secret's owner without its data. */
  getMetadata<M>(r: Resource, namespace: string | undefined, name: string): Promise<{ metadata: M }> {
    return this.request("GET", resourcePath(r, namespace, name), undefined, { accept: METADATA_ONLY.watch });
  }

  list<T>(
    r: Resource,
    namespace?: string,
    query = "",
    accept = "application/json",
  ): Promise<{ metadata: { resourceVersion?: string; continue?: string }; items: T[] | null }> {
    return this.request("GET", resourcePath(r, namespace) + (query ? `?${query}` : ""), undefined, { accept });
  }

  create<T>(r: Resource, namespace: string | undefined, obj: unknown): Promise<T> {
    return this.request<T>("POST", resourcePath(r, namespace), obj);
  }

  replace<T>(r: Resource, namespace: string | undefined, name: string, obj: unknown): Promise<T> {
    return this.request<T>("PUT", resourcePath(r, namespace, name), obj);
  }

  patch<T>(
    r: Resource,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = "merge",
    sub?: string,
  ): Promise<T> {
    return this.request<T>("PATCH", resourcePath(r, namespace, name, sub), patch, { contentType: PATCH_CONTENT[type] });
  }

  delete(r: Resource, namespace: string | undefined, name: string): Promise<unknown> {
    return this.request("DELETE", resourcePath(r, namespace, name));
  }
}
