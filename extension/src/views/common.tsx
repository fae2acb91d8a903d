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

export interface ViewProps {
  source: DataSource;
  ui: UiActions;
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

/** Looks like a link; a button, so it is reachable by keyboard. */
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
      onClick={props.onClick}
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

/** An observer: it reads the stores' state, which changes after the first render. */
export const EmptyState = observer(function EmptyState(props: {
  source: DataSource;
  kinds: KindKey[];
  what: string;
  empty: boolean;
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
            ? "Install capi-remote: clusterctl init --infrastructure remote, or kubectl apply --server-side -f deploy/install.yaml from the capi-remote repository."
            : ""}
        </p>
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
  const Row = ({ index, style }: { index: number; style: React.CSSProperties }) => {
    const r = props.rows[index] as T;
    return (
      <div
        className="capi-row"
        data-key={props.rowKey(r)}
        style={{
          ...style,
          display: "flex",
          alignItems: "center",
          borderBottom: "1px solid var(--borderFaintColor, #333)",
        }}
      >
        {props.columns.map((c) => (
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
  };
  return (
    <div className="capi-table" data-testid={props.testId} data-rows={props.rows.length}>
      <div
        className="capi-thead"
        style={{ display: "flex", fontWeight: "bold", borderBottom: "1px solid var(--borderColor, #555)", width }}
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
      >
        {Row}
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

export function Field(props: { name: string; children: React.ReactNode }) {
  return (
    <div className="capi-field" style={{ display: "flex", padding: "4px 0" }}>
      <div style={{ width: 160, flex: "none", color: "var(--textColorSecondary, #999)" }}>{props.name}</div>
      <div style={{ flex: 1, wordBreak: "break-all" }}>{props.children}</div>
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
      style={{ marginBottom: 8, width: 320, padding: 4 }}
    />
  );
}
