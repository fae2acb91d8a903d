/**
 * Small building blocks of the views: a virtualised table (react-window), status dots, links,
 * empty states and a conditions table. Plain React 17; colours come from Lens's CSS variables
 * with fallbacks, so the views also render outside Lens.
 */
import { observer } from "mobx-react";
import * as React from "react";
import { FixedSizeList } from "react-window";
import type { NormalCondition } from "../model/conditions.js";
import { age, type DataSource, KIND_INFO, type KindKey, type UiActions } from "../model/types.js";
import { InstallOffer, InstallReport } from "./install.js";
import type { Kit } from "./kit.js";

export interface ViewProps {
  source: DataSource;
  ui: UiActions;
  /** The host's components (lists, drawer items, badges, namespace filter). */
  kit: Kit;
}

const LEVEL_COLOURS = [
  "var(--colorOk, #4caf50)",
  "var(--colorInfo, #2196f3)",
  "var(--colorWarning, #ff9800)",
  "var(--colorError, #ce3933)",
];

export function Dot(props: { level: number; title?: string }) {
  return (
    <span
      className="capi-dot"
      data-level={props.level}
      title={props.title}
      style={{
        display: "inline-block",
        width: 8,
        height: 8,
        borderRadius: 4,
        marginRight: 6,
        background: LEVEL_COLOURS[Math.min(3, Math.max(0, props.level))],
      }}
    />
  );
}

/**
 * Looks like a link; a button, so it is reachable by keyboard. In a list row the click stays
 * with the link (the row's own click opens the row's object).
 */
export const linkStyle: React.CSSProperties = {
  background: "none",
  border: "none",
  padding: 0,
  color: "var(--primary, #3d90ce)",
  cursor: "pointer",
  font: "inherit",
  textDecoration: "underline",
};

export function LinkButton(props: { onClick(): void; children: React.ReactNode; className?: string; data?: string }) {
  return (
    <button
      type="button"
      className={props.className ?? "capi-link"}
      data-target={props.data}
      style={linkStyle}
      onClick={(e) => {
        e.stopPropagation();
        props.onClick();
      }}
    >
      {props.children}
    </button>
  );
}

export function Link(props: { ui: UiActions; kind: string; namespace?: string | undefined; name: string }) {
  if (!props.name) return null;
  return <LinkButton onClick={() => props.ui.open(props.kind, props.namespace, props.name)}>{props.name}</LinkButton>;
}

export function Since(props: { ts?: string | undefined }) {
  return <span title={props.ts}>{age(props.ts)}</span>;
}

export const pageStyle: React.CSSProperties = {
  padding: 16,
  color: "var(--textColorPrimary, #ddd)",
  background: "var(--mainBackground, #1e2124)",
  fontFamily: "var(--font-main, sans-serif)",
  fontSize: 13,
  height: "100%",
  boxSizing: "border-box",
  overflow: "auto",
};

/** "What to install" when the kinds a page needs are not served by the cluster. */
export function missingKinds(source: DataSource, kinds: KindKey[]): KindKey[] {
  return kinds.filter((k) => source.state(k).missing);
}

/**
 * What a page shows before or instead of its objects: what to install (and the offer to install
 * capi-remote), load errors, "loading" and "none yet"; and the report of an install, which stays
 * after the install made the kinds served. An observer: the stores' state changes after the first
 * render.
 */
export const EmptyState = observer(function EmptyState(props: {
  source: DataSource;
  ui: UiActions;
  kinds: KindKey[];
  what: string;
  empty: boolean;
  /** Above a host list, which shows loading and "no items" itself. */
  list?: boolean;
}) {
  return (
    <>
      <InstallReport />
      <EmptyNote {...props} />
    </>
  );
});

const EmptyNote = observer(function EmptyNote(props: {
  source: DataSource;
  ui: UiActions;
  kinds: KindKey[];
  what: string;
  empty: boolean;
  list?: boolean;
}) {
  const missing = missingKinds(props.source, props.kinds);
  if (missing.length) {
    const products = [...new Set(missing.map((k) => KIND_INFO[k].from))];
    return (
      <div className="capi-empty" data-testid="empty-state">
        <h3>{products.join(" and ")} not installed in this cluster</h3>
        <p>
          This page needs {missing.map((k) => KIND_INFO[k].kind).join(", ")}.{" "}
          {products.includes("Cluster API") ? "Install Cluster API (clusterctl init). " : ""}
          {products.includes("capi-remote")
            ? "Install capi-remote: clusterctl init --infrastructure remote, or kubectl apply --server-side -f deploy/install.yaml from the capi-remote repository, or here:"
            : ""}
        </p>
        {products.includes("capi-remote") ? <InstallOffer source={props.source} ui={props.ui} /> : null}
      </div>
    );
  }
  const errors = props.kinds.flatMap((k) => {
    const e = props.source.state(k).error;
    return e ? [{ kind: KIND_INFO[k].kind, error: e }] : [];
  });
  if (errors.length) {
    return (
      <div className="capi-empty capi-load-error" data-testid="load-error">
        <h3>Could not load {errors.map((e) => e.kind).join(", ")}</h3>
        {errors.map((e) => (
          <p key={e.kind}>
            {e.kind}: {e.error}
          </p>
        ))}
        <p>
          {errors.some((e) => /forbidden|403/i.test(e.error))
            ? "Your user may not list these objects here: ask for read access (get, list, watch) to them, or pick namespaces you may read in the namespace filter."
            : "Check the connection to the cluster; the page retries when the namespace filter changes or the page is opened again."}
        </p>
      </div>
    );
  }
  if (props.list) return null;
  if (!props.kinds.every((k) => props.source.state(k).loaded))
    return <div className="capi-loading">Loading {props.what}...</div>;
  if (props.empty)
    return (
      <div className="capi-empty" data-testid="empty-state">
        No {props.what} in this cluster yet.
      </div>
    );
  return null;
});

export interface Column<T> {
  title: string;
  width: number;
  cell(row: T): React.ReactNode;
}

interface RowData<T> {
  rows: T[];
  columns: Column<T>[];
  rowKey(row: T): string;
}

/**
 * One row of a VirtualTable. A component of its own (the rows and columns come as react-window's
 * item data), so an update re-renders the rows in view instead of mounting them anew.
 */
function VirtualRow(p: { index: number; style: React.CSSProperties; data: RowData<unknown> }) {
  const r = p.data.rows[p.index];
  return (
    <div
      className="capi-row"
      data-key={p.data.rowKey(r)}
      style={{
        ...p.style,
        display: "flex",
        alignItems: "center",
        paddingLeft: 8,
        boxSizing: "border-box",
        borderBottom: "1px solid var(--borderFaintColor, #333)",
      }}
    >
      {p.data.columns.map((c) => (
        <div
          key={c.title}
          style={{
            width: c.width,
            flex: "none",
            overflow: "hidden",
            textOverflow: "ellipsis",
            whiteSpace: "nowrap",
            paddingRight: 8,
          }}
        >
          {c.cell(r)}
        </div>
      ))}
    </div>
  );
}

/**
 * A table that renders only the rows in view, so a page with thousands of objects renders and
 * updates in milliseconds.
 */
export function VirtualTable<T>(props: {
  rows: T[];
  columns: Column<T>[];
  rowKey(row: T): string;
  height?: number;
  testId?: string;
}) {
  const width = props.columns.reduce((a, c) => a + c.width, 0);
  return (
    <div className="capi-table" data-testid={props.testId} data-rows={props.rows.length}>
      <div
        className="capi-thead"
        // Lens's own table head: its header colours, one line, the same padding as its cells.
        style={{
          display: "flex",
          whiteSpace: "nowrap",
          padding: "8px 0 8px 8px",
          background: "var(--tableHeaderBackground, #2d3035)",
          color: "var(--tableHeaderColor, #ddd)",
          borderBottom: "1px solid var(--borderFaintColor, #373a3e)",
          // As wide as the list below it.
          width: width + 16,
          boxSizing: "border-box",
        }}
      >
        {props.columns.map((c) => (
          <div key={c.title} style={{ width: c.width, flex: "none", paddingRight: 8 }}>
            {c.title}
          </div>
        ))}
      </div>
      <FixedSizeList
        height={props.height ?? Math.min(600, Math.max(32, props.rows.length * 28))}
        itemCount={props.rows.length}
        itemSize={28}
        width={width + 16}
        itemKey={(i: number) => props.rowKey(props.rows[i] as T)}
        itemData={props as RowData<unknown>}
      >
        {VirtualRow}
      </FixedSizeList>
    </div>
  );
}

export function Conditions(props: { conditions: NormalCondition[] }) {
  if (!props.conditions.length) return <div>No conditions reported.</div>;
  return (
    <table className="capi-conditions" style={{ borderCollapse: "collapse", width: "100%" }}>
      <thead>
        <tr>
          <th style={{ textAlign: "left" }}>Type</th>
          <th style={{ textAlign: "left" }}>Status</th>
          <th style={{ textAlign: "left" }}>Reason</th>
          <th style={{ textAlign: "left" }}>Since</th>
          <th style={{ textAlign: "left" }}>Message</th>
        </tr>
      </thead>
      <tbody>
        {props.conditions.map((c) => (
          <tr key={c.type} data-condition={c.type}>
            <td>{c.type}</td>
            <td>{c.status}</td>
            <td>{c.reason}</td>
            <td>
              <Since ts={c.since} />
            </td>
            <td style={{ whiteSpace: "pre-wrap" }}>{c.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The head of a page that is not a list of one kind, laid out as Lens's list header: item count,
 * search box and the host's namespace filter (which the pages follow).
 */
export function PageHead(props: { kit: Kit; q: string; setQ(q: string): void; placeholder: string; count: number }) {
  return (
    <div className="capi-head header flex gaps align-center" style={{ display: "flex", gap: 12, marginBottom: 8 }}>
      <span className="capi-count info" data-testid="item-count">
        {props.count} {props.count === 1 ? "item" : "items"}
      </span>
      <Filter value={props.q} onChange={props.setQ} placeholder={props.placeholder} />
      <div style={{ minWidth: 240 }}>
        <props.kit.NamespaceFilter />
      </div>
    </div>
  );
}

export function Filter(props: { value: string; onChange(v: string): void; placeholder: string }) {
  return (
    <input
      className="capi-filter"
      value={props.value}
      placeholder={props.placeholder}
      onChange={(e) => props.onChange(e.target.value)}
      style={{ width: 320, padding: 4 }}
    />
  );
}
