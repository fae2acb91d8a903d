/**
 * The views' Kit (views/kit.ts) made of the host's own components: lists on Lens's
 * KubeObjectListLayout over the extension's stores, panels of DrawerItem/DrawerTitle/Badge, and
 * its namespace filter. Host-specific, so it lives beside lens.ts.
 */
import { Renderer } from "@k8slens/extensions";
import { observer } from "mobx-react";
import * as React from "react";
import type { KeyedRow, Kit, ListSpec, Tone } from "../views/kit.js";
import { hostStore } from "./lens.js";

const { Component } = Renderer;
type HostObject = Renderer.K8sApi.KubeObject;
type ListLayoutProps = Parameters<typeof Component.KubeObjectListLayout>[0];
type HeaderCustomizer = Extract<NonNullable<ListLayoutProps["customizeHeader"]>, (...a: never[]) => unknown>;

const objectKey = (o: HostObject) => `${o.getNs() ?? ""}/${o.getName()}`;

/**
 * One kind's objects on Lens's own list layout: its search box, namespace filter, item count,
 * sortable and hideable columns, the row menu (KubeObjectMenu: Lens's items and ours, the same
 * components as in the drawer toolbar) and a click that opens the drawer. The adapter's store
 * follows the namespace filter itself (so every page does), hence `subscribeStores={false}`.
 */
const HostList = observer(function HostList<R extends KeyedRow>(p: ListSpec<R>) {
  const store = hostStore(p.kind);
  const rows = p.rows();
  const rowOf = (o: HostObject) => rows.get(objectKey(o));
  const show = p.show;
  const items = show
    ? store.contextItems.filter((o) => {
        const r = rowOf(o);
        return r !== undefined && show(r);
      })
    : store.contextItems.filter((o) => rowOf(o) !== undefined);
  const counted: HeaderCustomizer = (h) => ({ ...h, info: items.length === 1 ? "1 item" : `${items.length} items` });
  const sorting: Record<string, (o: HostObject) => string | number> = {};
  for (const c of p.columns) {
    const by = c.sort;
    if (by) sorting[c.id] = (o) => (rowOf(o) === undefined ? "" : by(rowOf(o) as R));
  }
  return (
    <Component.KubeObjectListLayout
      tableId={`capi-remote-${p.id}`}
      className={`capi-list capi-list-${p.id}`}
      data-testid={p.testId}
      store={store}
      items={items}
      subscribeStores={false}
      isConfigurable
      resourceName={p.noun}
      sortingCallbacks={sorting}
      searchFilters={[(o: HostObject) => (rowOf(o) === undefined ? o.getName() : p.search(rowOf(o) as R))]}
      renderTableHeader={p.columns.map((c) => ({
        title: c.title,
        className: `capi-col-${c.id}`,
        id: c.id,
        ...(c.sort ? { sortBy: c.id } : {}),
      }))}
      renderTableContents={(o: HostObject) => {
        const r = rowOf(o);
        return p.columns.map((c) => (r === undefined ? "" : c.cell(r)));
      }}
      {...(p.failed ? { failedToLoadMessage: p.failed } : {})}
      // Lens counts the whole store; a list of some of its objects says how many it shows.
      {...(show ? { customizeHeader: counted } : {})}
    />
  );
}) as Kit["List"];

const TONE_COLOURS: Record<Tone, string> = {
  ok: "var(--colorOk, #4caf50)",
  info: "var(--colorInfo, #2196f3)",
  warning: "var(--colorWarning, #ff9800)",
  error: "var(--colorError, #ce3933)",
};

export const lensKit: Kit = {
  List: HostList,
  Item: (p) => (
    <Component.DrawerItem name={p.name} className="capi-item" data-testid={p.testId}>
      {p.children}
    </Component.DrawerItem>
  ),
  Title: (p) => <Component.DrawerTitle className="capi-title">{p.children}</Component.DrawerTitle>,
  Badge: (p) => (
    <Component.Badge
      className={`capi-badge capi-tone-${p.tone ?? "info"}`}
      label={p.label}
      data-testid={p.testId}
      data-tone={p.tone ?? "info"}
      style={p.tone && p.tone !== "info" ? { color: "#fff", background: TONE_COLOURS[p.tone] } : undefined}
      {...(p.tooltip ? { tooltip: p.tooltip } : {})}
    />
  ),
  NamespaceFilter: () => <Component.NamespaceSelectFilter id="capi-remote-namespace-filter" />,
};
