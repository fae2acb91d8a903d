/**
 * A stand-in for the Lens/Freelens renderer host, for a real Chromium: it provides the global
 * `LensExtensions` with the parts of the 6.5 API the extension uses (KubeObject, KubeApi,
 * KubeObjectStore with list + watch, apiManager, Notifications, ConfirmDialog, MenuItem, Icon,
 * Navigation, LensExtension). KubeApi talks HTTP to `/k8s/...`, which the test server proxies to
 * a real API server (or, in benchmarks, answers from memory). It records notifications,
 * confirmations and navigations on `window.__host` for the tests to read.
 *
 * Built by esbuild into an IIFE with React and MobX taken from the page's globals, like the
 * extension bundle.
 */
import { observable, runInAction } from "mobx";
import * as React from "react";
import * as ReactDOM from "react-dom";

type Json = Record<string, unknown> & {
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
};

const recorded = {
  ok: [] as string[],
  error: [] as string[],
  /** Requests tried again after a network error (for the tests' failure messages). */
  retried: [] as string[],
  confirms: [] as { message: string; labelOk?: string }[],
  navigations: [] as string[],
  /** What ConfirmDialog.confirm answers. */
  answer: true,
};

/**
 * fetch, tried again on a network error: test hosts made next door change this machine's
 * interfaces, and Chromium fails requests in flight when it sees the network change
 * (ERR_NETWORK_CHANGED, "Failed to fetch"). An artifact of the test machine, not of the hosts
 * the extension runs in, so only the stand-in does this.
 */
async function netFetch(input: string, init?: RequestInit): Promise<Response> {
  // Hosts are made and destroyed in bursts (a fault suite makes dozens), so the changes can go
  // on for seconds: keep trying for up to 15 s. Every request the stand-in retries is idempotent
  // (GET, DELETE, and merge or JSON patches that set values).
  const deadline = Date.now() + 15_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (e) {
      if (Date.now() >= deadline || !(e instanceof TypeError)) throw e;
      recorded.retried.push(`${init?.method ?? "GET"} ${input}: ${e.message}`);
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2_000)));
    }
  }
}

class KubeObject {
  static kind = "";
  static namespaced = true;
  static apiBase = "";
  constructor(data: Json) {
    Object.assign(this, data);
  }
  toPlainObject(): Json {
    return JSON.parse(JSON.stringify(this)) as Json;
  }
}

const splitBase = (apiBase: string) => {
  const i = apiBase.lastIndexOf("/");
  return { prefix: apiBase.slice(0, i), plural: apiBase.slice(i + 1) };
};

class KubeApi {
  readonly apiBase: string;
  readonly objectConstructor: typeof KubeObject;
  constructor(opts: { objectConstructor: typeof KubeObject }) {
    this.objectConstructor = opts.objectConstructor;
    this.apiBase = opts.objectConstructor.apiBase;
  }
  url(namespace?: string, name?: string) {
    const { prefix, plural } = splitBase(this.apiBase);
    return namespace
      ? `/k8s${prefix}/namespaces/${namespace}/${plural}${name ? `/${name}` : ""}`
      : `/k8s${this.apiBase}${name ? `/${name}` : ""}`;
  }
  async patch(
    desc: { name: string; namespace?: string },
    data: unknown,
    strategy: "merge" | "json" | "strategic" = "strategic",
  ) {
    const type = {
      merge: "application/merge-patch+json",
      json: "application/json-patch+json",
      strategic: "application/strategic-merge-patch+json",
    }[strategy];
    const res = await netFetch(this.url(desc.namespace, desc.name), {
      method: "PATCH",
      headers: { "content-type": type },
      body: JSON.stringify(data),
    });
    const body = (await res.json()) as { message?: string };
    if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
    return body;
  }
  async delete(desc: { name: string; namespace?: string }) {
    const res = await netFetch(this.url(desc.namespace, desc.name), { method: "DELETE" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }
}

class KubeObjectStore {
  readonly items = observable.array<KubeObject>([], { deep: false });
  isLoaded = false;
  private rv = "";
  constructor(readonly api: KubeApi) {}

  /**
   * Where to list and watch: the namespace the page was opened for (`?namespace=`), as Lens's
   * stores load the namespaces selected in its filter, or the whole cluster.
   */
  private get base(): string {
    const ns = new URLSearchParams(location.search).get("namespace");
    return ns ? this.api.url(ns) : `/k8s${this.api.apiBase}`;
  }

  async loadAll(opts: { onLoadFailure?(e: unknown): void } = {}) {
    const res = await netFetch(this.base);
    if (!res.ok) {
      opts.onLoadFailure?.(new Error(`${res.status} ${res.status === 404 ? "not found" : res.statusText}`));
      return undefined;
    }
    const list = (await res.json()) as { metadata: { resourceVersion: string }; items: Json[] };
    this.rv = list.metadata.resourceVersion;
    const C = this.api.objectConstructor;
    runInAction(() => {
      this.items.replace(list.items.map((o) => new C(o)));
      this.isLoaded = true;
    });
    return this.items;
  }

  subscribe() {
    const abort = new AbortController();
    const loop = async () => {
      while (!abort.signal.aborted) {
        try {
          const res = await fetch(`${this.base}?watch=1&allowWatchBookmarks=true&resourceVersion=${this.rv}`, {
            signal: abort.signal,
          });
          if (!res.body) throw new Error("no body");
          const reader = res.body.getReader();
          const dec = new TextDecoder();
          let buf = "";
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let nl = buf.indexOf("\n");
            while (nl >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line.trim()) this.apply(JSON.parse(line) as { type: string; object: Json });
              nl = buf.indexOf("\n");
            }
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          await new Promise((r) => setTimeout(r, 500));
          if ((e as Error).message?.includes("410")) await this.loadAll();
        }
      }
    };
    void loop();
    return () => abort.abort();
  }

  private apply(ev: { type: string; object: Json }) {
    if (ev.type === "ERROR") {
      void this.loadAll();
      return;
    }
    if (ev.object.metadata.resourceVersion) this.rv = ev.object.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return;
    const key = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
    const C = this.api.objectConstructor;
    runInAction(() => {
      const i = this.items.findIndex((x) => key(x as unknown as Json) === key(ev.object));
      if (ev.type === "DELETED") {
        if (i >= 0) this.items.splice(i, 1);
      } else if (i >= 0) this.items[i] = new C(ev.object);
      else this.items.push(new C(ev.object));
    });
  }
}

const stores = new Map<string, KubeObjectStore>();
const apiManager = {
  registerStore(s: KubeObjectStore) {
    stores.set(s.api.apiBase, s);
  },
  getStore(apiBase: string) {
    return stores.get(apiBase);
  },
};

// Events, as Lens keeps them for its own panels.
class EventObject extends KubeObject {
  static override kind = "Event";
  static override apiBase = "/api/v1/events";
}
const eventStore = new KubeObjectStore(new KubeApi({ objectConstructor: EventObject }));
apiManager.registerStore(eventStore);
void eventStore.loadAll().then(() => eventStore.subscribe());

const MenuItem = (p: { onClick?(): void; children?: React.ReactNode }) => (
  <li className="standin-menu-item" style={{ listStyle: "none", padding: 4 }}>
    <button type="button" onClick={p.onClick}>
      {p.children}
    </button>
  </li>
);
const Icon = (p: { material?: string }) => <i className="standin-icon">{p.material}</i>;

class LensExtension {
  isEnabled = true;
  async onActivate() {}
}

const LensExtensions = {
  Common: {},
  Renderer: {
    LensExtension,
    K8sApi: {
      KubeObject,
      KubeApi,
      KubeObjectStore,
      apiManager,
      KubeObjectStatusLevel: { INFO: 1, WARNING: 2, CRITICAL: 3 },
    },
    Component: {
      MenuItem,
      Icon,
      Notifications: {
        ok: (m: string) => recorded.ok.push(String(m)),
        error: (m: string) => recorded.error.push(String(m)),
      },
      ConfirmDialog: {
        confirm: async (p: { message: React.ReactNode; labelOk?: string }) => {
          // Real hosts render the message as a ReactNode; record the text a person would read.
          const box = document.createElement("div");
          ReactDOM.render(React.createElement(React.Fragment, null, p.message), box);
          const message =
            [...box.querySelectorAll("p")].map((x) => x.textContent).join("\n\n") || box.textContent || "";
          ReactDOM.unmountComponentAtNode(box);
          recorded.confirms.push({ message, ...(p.labelOk ? { labelOk: String(p.labelOk) } : {}) });
          return recorded.answer;
        },
      },
    },
    Navigation: { showDetails: (link: string) => recorded.navigations.push(link) },
  },
};

(globalThis as Record<string, unknown>).LensExtensions = LensExtensions;
(globalThis as Record<string, unknown>).__host = recorded;
