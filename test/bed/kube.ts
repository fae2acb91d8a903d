/** Kubernetes client helpers for tests: clients from a kubeconfig, apply, waits, error text. */

import { request as httpsRequest, type RequestOptions } from "node:https";
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { waitFor } from "./util.js";

export interface Clients {
  kc: KubeConfig;
  objects: KubernetesObjectApi;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  ext: ApiextensionsV1Api;
}

/** Clients for the cluster a kubeconfig file points at. */
export function clientsFor(kubeconfig: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    objects: KubernetesObjectApi.makeApiClient(kc),
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    ext: kc.makeApiClient(ApiextensionsV1Api),
  };
}

/** The objects in a multi-document YAML text (empty documents dropped). */
export function parseYamlObjects(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => !!o && typeof o === "object" && !!o.kind);
}

/** The object API's URL resolution (with discovery), which client-node keeps protected. */
type WithPaths = { specUriPath(o: KubernetesObject, action: "patch"): Promise<string> };

/**
 * Server-side applies each object (create or update), as `kubectl apply --server-side` does.
 * The body is sent as written: client-node's typed serializer would drop keys it maps to camel
 * case (such as `x-kubernetes-int-or-string` in CRD schemas).
 */
export async function apply(c: Clients, objs: KubernetesObject[], fieldManager = "capi-remote-tests") {
  const paths = c.objects as unknown as WithPaths;
  const server = c.kc.getCurrentCluster()?.server ?? "";
  const out: KubernetesObject[] = [];
  for (const o of objs) {
    const url = `${server}${await paths.specUriPath(o, "patch")}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`;
    const opts: RequestOptions = { method: "PATCH", headers: { "content-type": PatchStrategy.ServerSideApply } };
    await c.kc.applyToHTTPSOptions(opts);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(url, opts, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.end(JSON.stringify(o));
    });
    if (status >= 300) throw new ApiException(status, `apply ${o.kind}/${o.metadata?.name}: ${status}`, body, {});
    out.push(JSON.parse(body) as KubernetesObject);
  }
  return out;
}

/** Creates an object (fails if it exists). */
export function create<T extends KubernetesObject>(c: Clients, obj: T): Promise<T> {
  return c.objects.create(obj);
}

/** The message an API error carries (the Status message), or the error's own text. */
export function apiErrorMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body = e.body as unknown;
    if (typeof body === "string") {
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return body;
      }
    }
    if (body && typeof body === "object" && "message" in body) return String((body as { message: unknown }).message);
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The HTTP status of an API error, if it is one. */
export function apiErrorCode(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/**
 * Waits until every named CRD reports Established and its objects can be listed: right after
 * Established the API server may still answer 429 "storage is (re)initializing" while its watch
 * cache for the new resource fills.
 */
export async function waitEstablished(c: Clients, names: string[], timeoutMs = 60_000): Promise<void> {
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established and served`,
      async () => {
        const crd = await c.ext.readCustomResourceDefinition({ name });
        if (!crd.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")) return false;
        for (const v of crd.spec.versions.filter((x) => x.served)) {
          await c.custom.listClusterCustomObject({
            group: crd.spec.group,
            version: v.name,
            plural: crd.spec.names.plural,
            limit: 1,
          });
        }
        return true;
      },
      { timeoutMs },
    );
  }
}

/** Ensures a namespace exists. */
export async function ensureNamespace(c: Clients, name: string): Promise<void> {
  await apply(c, [{ apiVersion: "v1", kind: "Namespace", metadata: { name } }]);
}
