/**
 * A stand-in for the Lens/Freelens renderer host, for a real Chromium: it provides the global
 * `LensExtensions` with the parts of the 6.5 API the extension uses (KubeObject, KubeApi,
 * KubeObjectStore with list + watch, apiManager, Notifications, ConfirmDialog, MenuItem, Icon,
 * KubeObjectListLayout, DrawerItem, DrawerTitle, Badge, NamespaceSelectFilter, Navigation,
 * LensExtension). KubeApi talks HTTP to `/k8s/...`, which the test server proxies to
 * a real API server (or, in benchmarks, answers from memory). It records notifications,
 * confirmations and navigations on `window.__host` for the tests to read.
 *
 * Built by esbuild into an IIFE with React and MobX taken from the page's globals, like the
 * extension bundle.
 */
import { observable, runInAction } from "mobx";
import { observer } from "mobx-react";
import * as React from "react";
import * as ReactDOM from "react-dom";
import { FixedSizeList } from "react-window";

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
  declare metadata: Json["metadata"];
  constructor(data: Json) {
    Object.assign(this, data);
  }
  getName() {
    return this.metadata.name;
  }
  getNs() {
    return this.metadata.namespace;
  }
  getId() {
    return this.metadata.uid ?? `${this.metadata.namespace}/${this.metadata.name}`;
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
  failedLoading = false;
  private rv = "";
  constructor(readonly api: KubeApi) {}

  /** The namespace filter: the page's `?namespace=`, else all namespaces (an empty list). */
  get context() {
    const ns = new URLSearchParams(location.search).get("namespace");
    return { contextNamespaces: ns ? [ns] : [] };
  }

  /** The stand-in loads only the filter's namespace, so every item is in the context. */
  get contextItems() {
    return this.items;
  }

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
      // As the real hosts do: the API server's answer wrapped in "Failed to load <apiBase>".
      const cause = Object.assign(new Error(`${res.status} ${res.status === 404 ? "not found" : res.statusText}`), {
        status: res.status,
      });
      opts.onLoadFailure?.(new Error(`Failed to load ${this.api.apiBase}`, { cause }));
      runInAction(() => {
        this.failedLoading = true;
      });
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

type Cell = { title?: React.ReactNode; className?: string; id?: string; sortBy?: string } | null | undefined;
type ListObject = KubeObject & { metadata: { name: string; namespace?: string } };

/**
 * Lens's KubeObjectListLayout as far as the tests need it: a search box, an item count, a
 * header whose sortable titles sort on click, virtualised rows (so thousands render fast) and
 * the failed-to-load message. No row menus, column choices or drawer: the real-host suite
 * covers those in Freelens's own list layout.
 */
const KubeObjectListLayout = observer(function KubeObjectListLayout(p: {
  store: KubeObjectStore;
  items?: ListObject[];
  className?: string;
  "data-testid"?: string;
  resourceName?: string;
  searchFilters?: ((o: ListObject) => unknown)[];
  sortingCallbacks?: Record<string, (o: ListObject) => string | number>;
  renderTableHeader?: Cell[];
  renderTableContents(o: ListObject): React.ReactNode[];
  failedToLoadMessage?: React.ReactNode;
}) {
  const [q, setQ] = React.useState("");
  const [sort, setSort] = React.useState<{ by: string; desc: boolean } | undefined>();
  if (p.store.failedLoading) return <div className="NoItems">{p.failedToLoadMessage ?? "Failed to load items"}</div>;
  let items = [...(p.items ?? (p.store.contextItems as unknown as ListObject[]))];
  const needle = q.toLowerCase();
  if (needle)
    items = items.filter((o) =>
      (p.searchFilters ?? []).some((f) =>
        [f(o)].flat().some((v) =>
          String(v ?? "")
            .toLowerCase()
            .includes(needle),
        ),
      ),
    );
  const by = sort && p.sortingCallbacks?.[sort.by];
  if (by && sort) {
    items.sort((a, b) => {
      const x = by(a);
      const y = by(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (sort.desc ? -1 : 1);
    });
  }
  const headers = p.renderTableHeader ?? [];
  const Row = ({ index, style }: { index: number; style: React.CSSProperties }) => {
    const o = items[index] as ListObject;
    return (
      <div
        className="TableRow capi-row"
        data-key={`${o.metadata.namespace ?? ""}/${o.metadata.name}`}
        style={{ ...style, display: "flex", borderBottom: "1px solid #333" }}
      >
        {p.renderTableContents(o).map((c, i) => (
          <div
            key={headers[i]?.id ?? i}
            className="TableCell"
            style={{ flex: 1, overflow: "hidden", whiteSpace: "nowrap" }}
          >
            {c}
          </div>
        ))}
      </div>
    );
  };
  return (
    <div className={`ItemListLayout ${p.className ?? ""}`} data-testid={p["data-testid"]} data-rows={items.length}>
      <div className="header">
        <span className="info">{items.length} items</span>
        <input
          className="SearchInput"
          placeholder={`Search ${p.resourceName ?? ""}...`}
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
      </div>
      <div className="Table capi-table">
        <div className="TableHead" style={{ display: "flex", fontWeight: "bold" }}>
          {headers.map((h, i) => (
            <button
              type="button"
              key={h?.id ?? i}
              className={`TableCell ${h?.className ?? ""}`}
              data-sort={h?.sortBy}
              style={{ flex: 1 }}
              onClick={() => h?.sortBy && setSort({ by: h.sortBy, desc: sort?.by === h.sortBy && !sort.desc })}
            >
              {h?.title}
            </button>
          ))}
        </div>
        <FixedSizeList
          height={Math.min(600, Math.max(32, items.length * 28))}
          itemCount={items.length}
          itemSize={28}
          width={1600}
          itemKey={(i: number) => `${items[i]?.metadata.namespace}/${items[i]?.metadata.name}`}
        >
          {Row}
        </FixedSizeList>
      </div>
    </div>
  );
});

const DrawerItem = (p: { name: React.ReactNode; className?: string; children?: React.ReactNode }) => (
  <div className={`DrawerItem ${p.className ?? ""}`} style={{ display: "flex", padding: "4px 0" }}>
    <span className="name" style={{ width: 160, flex: "none", color: "#999" }}>
      {p.name}
    </span>
    <span className="value">{p.children}</span>
  </div>
);
const DrawerTitle = (p: { children?: React.ReactNode; className?: string }) => (
  <div className={`DrawerTitle ${p.className ?? ""}`} style={{ fontWeight: "bold", marginTop: 12 }}>
    {p.children}
  </div>
);
const Badge = ({ label, className, ...rest }: { label?: React.ReactNode; className?: string; tooltip?: unknown }) => {
  const { tooltip: _tooltip, ...attrs } = rest;
  return (
    <div
      className={`Badge ${className ?? ""}`}
      {...attrs}
      style={{ display: "inline-block", padding: "0 4px", ...((attrs as { style?: React.CSSProperties }).style ?? {}) }}
    >
      {label}
    </div>
  );
};
const NamespaceSelectFilter = () => <div className="NamespaceSelectFilter">namespace filter</div>;

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
      KubeObjectListLayout,
      DrawerItem,
      DrawerTitle,
      Badge,
      NamespaceSelectFilter,
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
