/**
 * The only module that touches the host's API (`Renderer.*` of Lens 6.5 / Freelens 1.x). It
 * creates KubeApis and stores for the kinds the views read (lazily: a store can only be made in a
 * cluster frame), exposes them to the views as a `DataSource`, and maps UI actions to the host's
 * notifications, confirm dialog and navigation. A port to another host replaces this module.
 */
import { Renderer } from "@k8slens/extensions";
import { observable, runInAction } from "mobx";
import {
  apiBaseOf,
  type DataSource,
  KIND_INFO,
  type KindKey,
  type KindState,
  type Obj,
  type UiActions,
} from "../model/types.js";

const { K8sApi } = Renderer;

// biome-ignore lint/suspicious/noExplicitAny: the host's generic store and object types
type AnyStore = any;

interface Entry {
  store: AnyStore;
  // biome-ignore lint/suspicious/noExplicitAny: the host's KubeApi
  api: any;
  state: KindState;
}

/** A KubeObject class for one kind (the host's generic KubeObject with our kind and apiBase). */
function objectClass(key: KindKey) {
  const info = KIND_INFO[key];
  return class extends K8sApi.KubeObject {
    static kind = info.kind;
    static namespaced = true;
    static apiBase = apiBaseOf(info);
  };
}

class LensSource implements DataSource {
  private readonly entries = new Map<KindKey, Entry>();

  private entry(kind: KindKey): Entry {
    const existing = this.entries.get(kind);
    if (existing) return existing;
    const objectConstructor = objectClass(kind);
    const api = new K8sApi.KubeApi({ objectConstructor });
    // The host's store class is abstract in its types; any concrete subclass will do.
    const Base = K8sApi.KubeObjectStore as unknown as new (api: unknown) => AnyStore;
    const store: AnyStore = new (class extends Base {})(api);
    K8sApi.apiManager.registerStore(store as never);
    const state = observable({ loaded: false, missing: false } as KindState);
    const e: Entry = { store, api, state };
    this.entries.set(kind, e);
    void store
      .loadAll({
        onLoadFailure: (err: unknown) =>
          runInAction(() => {
            const text = String((err as { message?: string })?.message ?? err);
            if (/404|not found|could not find/i.test(text)) state.missing = true;
            else state.error = text;
          }),
      })
      .then(() => {
        runInAction(() => {
          state.loaded = true;
        });
        store.subscribe();
      });
    return e;
  }

  items(kind: KindKey): Obj[] {
    return (this.entry(kind).store.items as { toPlainObject(): Obj }[]).map((o) => o.toPlainObject());
  }

  state(kind: KindKey): KindState {
    return this.entry(kind).state;
  }

  async patch(kind: KindKey, obj: Obj, patch: unknown, type: "merge" | "json"): Promise<void> {
    await this.entry(kind).api.patch({ name: obj.metadata.name, namespace: obj.metadata.namespace }, patch, type);
  }

  async remove(kind: KindKey, obj: Obj): Promise<void> {
    await this.entry(kind).api.delete({ name: obj.metadata.name, namespace: obj.metadata.namespace });
  }

  eventsOf(obj: Obj) {
    const events = K8sApi.apiManager.getStore("/api/v1/events") as AnyStore;
    if (!events?.items) return [];
    return (events.items as { toPlainObject(): Obj }[])
      .map((e) => e.toPlainObject() as Obj & { involvedObject?: { uid?: string; name?: string; kind?: string } })
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

const uiActions: UiActions = {
  ok: (m) => Renderer.Component.Notifications.ok(m),
  error: (m) => Renderer.Component.Notifications.error(m),
  confirm: async (o) =>
    Renderer.Component.ConfirmDialog.confirm({ message: `${o.title}\n\n${o.message}`, labelOk: o.ok }),
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

/** The host's menu item and icon, for the right-click menu. */
export const HostMenuItem = Renderer.Component.MenuItem;
export const HostIcon = Renderer.Component.Icon;
export const LensExtensionBase = Renderer.LensExtension;
export const StatusLevel = K8sApi.KubeObjectStatusLevel;
