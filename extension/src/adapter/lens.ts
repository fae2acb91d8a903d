/**
 * The only module that touches the host's API (`Renderer.*` of Lens 6.5 / Freelens 1.x). It
 * creates KubeApis and stores for the kinds the views read (lazily: a store can only be made in a
 * cluster frame), exposes them to the views as a `DataSource`, and maps UI actions to the host's
 * notifications, confirm dialog and navigation. A port to another host replaces this module.
 */

import MANIFESTS from "capi-remote:install-manifests";
import { Renderer } from "@k8slens/extensions";
import { comparer, observable, reaction, runInAction } from "mobx";
import * as React from "react";
import type { InstallClient } from "../model/install.js";
import {
  apiBaseOf,
  type DataSource,
  KIND_INFO,
  type KindKey,
  type KindState,
  type Obj,
  Refused,
  type UiActions,
} from "../model/types.js";
import type { EntryProps } from "../views/menus.js";

const { K8sApi } = Renderer;

type HostObject = Renderer.K8sApi.KubeObject;
type HostApi = Renderer.K8sApi.KubeApi<HostObject>;
type HostStore = Renderer.K8sApi.KubeObjectStore<HostObject>;

interface Entry {
  store: HostStore;
  api: HostApi;
  state: KindState;
  /** Lists again in the namespaces the filter selects. */
  reload(): Promise<void>;
}

/** A KubeObject class for one kind (the host's generic KubeObject with our kind and apiBase). */
function objectClass(key: KindKey) {
  const info = KIND_INFO[key];
  return class extends K8sApi.KubeObject {
    static override kind = info.kind;
    static override namespaced = true;
    static override apiBase = apiBaseOf(info);
  };
}

type ErrorLike = {
  status?: number;
  code?: number;
  statusCode?: number;
  reason?: string;
  message?: unknown;
  cause?: unknown;
  /** The API server's answer inside the host's JsonApiErrorParsed (a Status, or the bare text). */
  error?: unknown;
};

/** An error and the errors it wraps, outermost first (bounded: causes can be cyclic). */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  for (let e = err, depth = 0; e && depth < 5; depth++) {
    const x = (typeof e === "object" ? e : { message: String(e) }) as ErrorLike;
    out.push(x);
    if (x.error && typeof x.error === "object") out.push(x.error as ErrorLike);
    e = x.cause;
  }
  return out;
}

/** What an error says: its message, else the host's text of it (JsonApiErrorParsed has only toString). */
const said = (x: ErrorLike) =>
  typeof x.message === "string" ? x.message : typeof x.error === "string" ? x.error : String(x);

/**
 * Whether a load failure means the kind is not served (its CRD is absent). Real hosts wrap the
 * API server's answer: `Error("Failed to load <apiBase>", { cause })`. The cause is the host's
 * JsonApiErrorParsed, which has no status or message of its own: it keeps the response body in
 * `error` (the text "404 page not found" for an unknown group, a Status with code 404 for an
 * unknown resource of a known group) and its text in `messages` / `toString()`.
 */
export function isNotServed(err: unknown): boolean {
  const notFound = /could not find the requested resource|404 page not found|\b404\b/i;
  const statusSaysSo = (x: unknown): boolean => {
    if (typeof x === "string") return notFound.test(x);
    if (!x || typeof x !== "object") return false;
    const s = x as { status?: unknown; code?: unknown; statusCode?: unknown; reason?: unknown; message?: unknown };
    return (
      s.status === 404 ||
      s.code === 404 ||
      s.statusCode === 404 ||
      s.reason === "NotFound" ||
      (typeof s.message === "string" && notFound.test(s.message))
    );
  };
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (statusSaysSo(e)) return true;
    const x = e as { error?: unknown; messages?: unknown };
    if (statusSaysSo(x.error)) return true;
    if (Array.isArray(x.messages) && x.messages.some(statusSaysSo)) return true;
  }
  return false;
}

/** The innermost message of a wrapped error ("Failed to load ..." says little by itself). */
export function errorText(err: unknown): string {
  return chain(err)
    .map(said)
    .filter((m, i, all) => m && all.indexOf(m) === i)
    .join(": ");
}

/** Whether the API server answered 403 (the host's JsonApiErrorParsed keeps the Status in `error`). */
export function isForbidden(err: unknown): boolean {
  return chain(err).some((x) => x.code === 403 || x.status === 403 || x.statusCode === 403 || x.reason === "Forbidden");
}

/**
 * A refused change, told once. Both hosts show every 403 of the cluster's API as an error
 * notification of their own (the bare Status message; Lens's and Freelens's api-kube injectable,
 * which marks the error `isUsedForNotification`) before the caller sees the error. The action
 * then says what was refused and why in its own notification, so the host's, whose message is
 * this very error, is withdrawn: one notification per refusal.
 */
function refusal(err: unknown): unknown {
  if (!isForbidden(err)) return err;
  const store = Renderer.Component.notificationsStore;
  const shown = store.notifications.find((n) => n.message === err);
  if (shown?.id !== undefined) store.remove(shown.id);
  return new Refused(errorText(err), { cause: err });
}

class LensSource implements DataSource {
  private readonly entries = new Map<KindKey, Entry>();
  private readonly eventNamespaces = new Set<string>();

  /**
   * A kind's store, made on first use. It loads and watches the namespaces selected in the
   * host's namespace filter and follows every change of it, so each page (lists or not) shows
   * what the filter selects.
   */
  entry(kind: KindKey): Entry {
    const existing = this.entries.get(kind);
    if (existing) return existing;
    const objectConstructor = objectClass(kind);
    const api = new K8sApi.KubeApi({ objectConstructor }) as HostApi;
    // The host's store class is abstract in its types and concrete at run time.
    const Base = K8sApi.KubeObjectStore as unknown as new (api: HostApi) => HostStore;
    const store = new (class extends Base {})(api);
    K8sApi.apiManager.registerStore(store);
    const state = observable({ loaded: false, missing: false } as KindState);
    let stop: (() => void) | undefined;
    let generation = 0;
    const onLoadFailure = (err: unknown) =>
      runInAction(() => {
        if (isNotServed(err)) state.missing = true;
        else state.error = errorText(err);
      });
    const load = (namespaces: string[]): Promise<void> => {
      stop?.();
      stop = undefined;
      const mine = ++generation;
      runInAction(() => {
        state.missing = false;
        delete state.error;
      });
      return store.loadAll({ namespaces, merge: false, onLoadFailure }).then(() => {
        if (mine !== generation) return;
        runInAction(() => {
          state.loaded = true;
        });
        if (!state.missing) stop = store.subscribe({ onLoadFailure });
      });
    };
    const e: Entry = { store, api, state, reload: () => load([...store.context.contextNamespaces]) };
    this.entries.set(kind, e);
    reaction(
      () => [...store.context.contextNamespaces],
      (ns) => void load(ns),
      {
        fireImmediately: true,
        equals: comparer.structural,
      },
    );
    return e;
  }

  /**
   * Plain copies by host object: the store replaces an object when it changes (list, watch event,
   * patch answer) and never mutates it, so one copy per object is enough. Without this, every
   * render deep-copied every object of the kind (5,000 copies for one changed Machine).
   */
  private readonly plain = new WeakMap<HostObject, Obj>();

  /** The objects in the namespaces the host's filter selects. */
  items(kind: KindKey): Obj[] {
    return this.entry(kind).store.contextItems.map((o) => {
      let p = this.plain.get(o);
      if (!p) {
        p = o.toPlainObject() as unknown as Obj;
        this.plain.set(o, p);
      }
      return p;
    });
  }

  state(kind: KindKey): KindState {
    return this.entry(kind).state;
  }

  reload(kind: KindKey): Promise<void> {
    return this.entry(kind).reload();
  }

  get installer() {
    const client = installClient(this.entry("pooledRemoteMachines").api);
    return client ? { manifests: MANIFESTS as Obj[], client } : undefined;
  }

  async patch(kind: KindKey, obj: Obj, patch: unknown, type: "merge" | "json"): Promise<void> {
    const desc = { name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" };
    const api = this.entry(kind).api;
    try {
      if (type === "json") await api.patch(desc, patch as Parameters<HostApi["patch"]>[1] & unknown[], "json");
      else await api.patch(desc, patch as Parameters<HostApi["patch"]>[1], "merge");
    } catch (e) {
      throw refusal(e);
    }
  }

  async remove(kind: KindKey, obj: Obj): Promise<void> {
    try {
      await this.entry(kind).api.delete({ name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" });
    } catch (e) {
      throw refusal(e);
    }
  }

  /**
   * Events about an object. The host's Event store is only filled when something loads it (its
   * own Events page does), so the first panel that asks loads the object's namespace.
   */
  eventsOf(obj: Obj) {
    const events = K8sApi.apiManager.getStore("/api/v1/events") as Renderer.K8sApi.EventStore | undefined;
    if (!events) return [];
    const ns = obj.metadata.namespace;
    if (ns && !this.eventNamespaces.has(ns)) {
      this.eventNamespaces.add(ns);
      void events.loadAll({ namespaces: [ns], merge: true }).catch(() => this.eventNamespaces.delete(ns));
    }
    return events.items
      .map((e) => e.toPlainObject() as unknown as Obj & { involvedObject?: { uid?: string; name?: string } })
      .filter(
        (e) =>
          e.involvedObject?.uid === obj.metadata.uid ||
          (e.involvedObject?.name === obj.metadata.name && e.metadata.namespace === obj.metadata.namespace),
      )
      .map(
        (e) =>
          e as unknown as { type?: string; reason?: string; message?: string; lastTimestamp?: string; count?: number },
      )
      .sort((a, b) => String(b.lastTimestamp ?? "").localeCompare(String(a.lastTimestamp ?? "")));
  }
}

interface JsonRequests {
  patch(path: string, params: { data: unknown }, init: { headers: Record<string, string> }): Promise<unknown>;
  post(path: string, params: { data: unknown }): Promise<unknown>;
}

/**
 * Server-side apply and access reviews through the same JSON API the stores list with: the
 * host's proxy for this cluster, with the person's own credentials.
 *
 * `KubeJsonApi.forCluster` would be the documented way, but in both hosts it is a Proxy over a
 * plain object (`asLegacyGlobalForExtensionApi`), which cannot be called. A KubeApi's `request`
 * is that JSON API, already bound to this cluster: protected in the hosts' declarations, hence
 * the cast; its methods are declared by @k8slens/json-api, which Lens 6.5 never published, so
 * the part the install uses is declared here (Freelens declares the same methods).
 */
function installClient(api: HostApi): InstallClient | undefined {
  const json = (api as unknown as { request?: Partial<JsonRequests> }).request;
  // Hosts without it (the test stand-in) offer no install.
  if (typeof json?.patch !== "function" || typeof json.post !== "function") return undefined;
  const { patch, post } = json as JsonRequests;
  return {
    apply: async (path, manifest) => {
      // JSON is YAML: the apply body is the object as JSON. A refusal is told in the install's
      // report, not in the host's notification as well.
      await patch
        .call(json, path, { data: manifest }, { headers: { "content-type": "application/apply-patch+yaml" } })
        .catch((e: unknown) => {
          throw refusal(e);
        });
    },
    canI: async (right) => {
      const review = await post.call(json, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        data: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectAccessReview",
          metadata: { name: "" },
          spec: { resourceAttributes: right },
        },
      });
      return (review as { status?: { allowed?: boolean } }).status?.allowed;
    },
  };
}

const uiActions: UiActions = {
  ok: (m) => Renderer.Component.Notifications.ok(m),
  error: (m) => Renderer.Component.Notifications.error(m),
  // The dialog takes a ReactNode: the title as its own paragraph, then what will happen.
  confirm: async (o) =>
    Renderer.Component.ConfirmDialog.confirm({
      message: React.createElement(
        "div",
        { className: "capi-confirm" },
        React.createElement("p", { className: "capi-confirm-title" }, React.createElement("b", null, o.title)),
        React.createElement("p", { className: "capi-confirm-message" }, o.message),
      ),
      labelOk: o.ok,
    }),
  open: (kind, namespace, name) => {
    const key = (Object.keys(KIND_INFO) as KindKey[]).find((k) => KIND_INFO[k].kind === kind);
    const base = key ? apiBaseOf(KIND_INFO[key]) : kind === "Node" ? "/api/v1/nodes" : undefined;
    if (!base) return;
    const [prefix, plural] = [base.slice(0, base.lastIndexOf("/")), base.slice(base.lastIndexOf("/") + 1)];
    const selfLink = namespace ? `${prefix}/namespaces/${namespace}/${plural}/${name}` : `${base}/${name}`;
    Renderer.Navigation.showDetails(selfLink);
  },
};

let source: LensSource | undefined;

/** The data source, created on first use (inside a cluster frame). */
export function lensSource(): DataSource {
  source ??= new LensSource();
  return source;
}

export const lensUi: UiActions = uiActions;

/** The host store of a kind (for the list layout, which renders the store's own objects). */
export function hostStore(kind: KindKey): HostStore {
  source ??= new LensSource();
  return source.entry(kind).store;
}

/**
 * A menu item as Lens's own are: an icon with a tooltip (all the drawer toolbar shows) and a
 * title (shown in row menus; Lens's CSS hides `.title` in toolbars).
 */
export function HostMenuEntry(p: EntryProps) {
  return React.createElement(
    Renderer.Component.MenuItem,
    { onClick: p.onClick, className: `capi-${p.action}` },
    React.createElement(Renderer.Component.Icon, {
      material: p.icon,
      interactive: p.toolbar,
      tooltip: p.label,
    }),
    React.createElement("span", { className: "title capi-menu-item", "data-action": p.action }, p.label),
  );
}

export const HostIcon = Renderer.Component.Icon;
export const LensExtensionBase = Renderer.LensExtension;
export const StatusLevel = K8sApi.KubeObjectStatusLevel;
export type HostStatus = Renderer.K8sApi.KubeObjectStatus;
