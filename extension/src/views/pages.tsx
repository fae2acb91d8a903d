/**
 * The Clusters (trees) and Pools pages under "Cluster API" (Machines and Remote machines are
 * lists, in lists.tsx). Each is an observer of the data source: a watch update re-renders only
 * what changed. Lens's tab bar names the page, so the pages carry no title of their own.
 */
import { observer } from "mobx-react";
import * as React from "react";
import { type PoolRow, poolRows } from "../model/rows.js";
import { type ClusterInput, clusterTrees, type TreeRow } from "../model/tree.js";
import type { DataSource, Obj } from "../model/types.js";
import {
  type Column,
  Dot,
  EmptyState,
  Link,
  LinkButton,
  PageHead,
  pageStyle,
  Since,
  type ViewProps,
  VirtualTable,
} from "./common.js";
import { PoolMachinesList, poolMachineData } from "./lists.js";

const match = (q: string, ...fields: string[]) => !q || fields.some((f) => f.toLowerCase().includes(q.toLowerCase()));

// ---------------------------------------------------------------------------------------------
// Clusters

function clusterInput(source: DataSource): ClusterInput {
  const infra = new Map<string, Obj>();
  for (const k of ["remoteMachines", "remoteClusters"] as const)
    for (const o of source.items(k)) infra.set(`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`, o);
  return {
    clusters: source.items("clusters"),
    machineDeployments: source.items("machineDeployments"),
    machineSets: source.items("machineSets"),
    machines: source.items("machines"),
    infra,
  };
}

/**
 * The tree's columns, laid out as Lens's own table heads (its header colours, 8 px padding, one
 * line each): the browser sizes each column to its content, so a header never runs into the
 * next, the name stays on one line and the message takes the rest, wrapping.
 */
const TREE_COLUMNS = ["Name", "Replicas", "Available", "Ready", "Up to date", "Status", "Reason", "Since", "Message"];

const cell: React.CSSProperties = { padding: "6px 8px", verticalAlign: "top", textAlign: "left" };
const short: React.CSSProperties = { ...cell, whiteSpace: "nowrap" };
const headCell: React.CSSProperties = {
  ...short,
  padding: 8,
  fontWeight: "normal",
  background: "var(--tableHeaderBackground, #2d3035)",
  color: "var(--tableHeaderColor, #ddd)",
};
const rule = { borderBottom: "1px solid var(--borderFaintColor, #373a3e)" };

const TreeTable = (props: { rows: TreeRow[]; ui: ViewProps["ui"] }) => (
  <table className="capi-tree" style={{ borderCollapse: "collapse", width: "100%", marginBottom: 24 }}>
    <thead>
      <tr style={rule}>
        {TREE_COLUMNS.map((c) => (
          <th key={c} style={headCell}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
    <tbody>
      {props.rows.map((r) => (
        <tr key={r.id} data-kind={r.kind} data-name={r.name} data-level={r.level} style={rule}>
          <td style={{ ...short, paddingLeft: 8 + r.depth * 18 }}>
            <Dot level={r.level} />
            <span style={{ color: "var(--textColorSecondary, #999)" }}>{r.kind} </span>
            {r.names ? (
              <span title={r.names.join(", ")}>{r.name}</span>
            ) : (
              <Link ui={props.ui} kind={r.kind} namespace={r.namespace} name={r.name} />
            )}
            {r.paused ? " (paused)" : ""}
          </td>
          <td style={short}>{r.replicas ?? ""}</td>
          <td style={short}>{r.available ?? ""}</td>
          <td style={short}>{r.ready ?? ""}</td>
          <td style={short}>{r.upToDate ?? ""}</td>
          <td style={short}>{r.status}</td>
          <td style={short}>{r.reason}</td>
          <td style={short}>
            <Since ts={r.since} />
          </td>
          <td style={{ ...cell, whiteSpace: "pre-wrap", overflowWrap: "anywhere" }}>{r.message}</td>
        </tr>
      ))}
    </tbody>
  </table>
);

export const ClustersPage = observer(function ClustersPage(props: ViewProps) {
  const [q, setQ] = React.useState("");
  const trees = clusterTrees(clusterInput(props.source)).filter((t) =>
    match(q, t.cluster.metadata.name, t.cluster.metadata.namespace ?? ""),
  );
  return (
    <div style={pageStyle} data-testid="page-clusters">
      <PageHead kit={props.kit} q={q} setQ={setQ} placeholder="Search clusters..." count={trees.length} />
      <EmptyState
        source={props.source}
        ui={props.ui}
        kinds={["clusters", "machines"]}
        what="Clusters"
        empty={trees.length === 0 && !q}
      />
      {trees.map((t) => (
        <section
          key={`${t.cluster.metadata.namespace}/${t.cluster.metadata.name}`}
          data-cluster={t.cluster.metadata.name}
        >
          <h3>
            {t.cluster.metadata.namespace}/{t.cluster.metadata.name}
          </h3>
          <TreeTable rows={t.rows} ui={props.ui} />
        </section>
      ))}
    </div>
  );
});

// ---------------------------------------------------------------------------------------------
// Pools

export function poolData(source: DataSource) {
  const machines = poolMachineData(source);
  return { machines, pools: poolRows(machines, source.items("remoteMachineTemplates")) };
}

export const PoolsPage = observer(function PoolsPage(props: ViewProps & { initialPool?: string }) {
  const [open, setOpen] = React.useState<string | undefined>(props.initialPool);
  const [q, setQ] = React.useState("");
  const data = poolData(props.source);
  if (open) {
    const [ns, pool] = open.split("/") as [string, string];
    const rows = new Map(data.machines.map((m) => [`${m.namespace}/${m.name}`, m]));
    const counts = data.pools.find((p) => p.namespace === ns && p.pool === pool);
    return (
      <div style={pageStyle} data-testid="page-pool">
        <div className="capi-pool-head">
          <LinkButton onClick={() => setOpen(undefined)}>All pools</LinkButton>
          <b style={{ marginLeft: 12 }}>
            Pool {pool} ({ns})
          </b>
        </div>
        {counts ? (
          <p data-testid="pool-counts">
            {counts.total} machines: {counts.available} available, {counts.inUse} in use,{" "}
            {counts.claimed - counts.inUse} claimed otherwise, {counts.cordoned} cordoned, {counts.quarantined}{" "}
            quarantined
            {counts.templates.length ? ` - used by ${counts.templates.join(", ")}` : ""}
          </p>
        ) : null}
        <PoolMachinesList {...props} rows={rows} namespace={ns} pool={pool} />
      </div>
    );
  }
  const pools = data.pools.filter((p) => match(q, p.pool, p.namespace));
  const cols: Column<PoolRow>[] = [
    {
      title: "Pool",
      width: 200,
      cell: (r) => (
        <>
          <Dot level={r.level} />
          <LinkButton
            className="capi-pool-link"
            data={`${r.namespace}/${r.pool}`}
            onClick={() => setOpen(`${r.namespace}/${r.pool}`)}
          >
            {r.pool}
          </LinkButton>
        </>
      ),
    },
    { title: "Namespace", width: 140, cell: (r) => r.namespace },
    { title: "Total", width: 60, cell: (r) => r.total },
    { title: "Available", width: 80, cell: (r) => r.available },
    { title: "In use", width: 70, cell: (r) => r.inUse },
    { title: "Cordoned", width: 80, cell: (r) => r.cordoned },
    { title: "Quarantined", width: 90, cell: (r) => r.quarantined },
    { title: "Templates", width: 260, cell: (r) => r.templates.join(", ") },
  ];
  return (
    <div style={pageStyle} data-testid="page-pools">
      <PageHead kit={props.kit} q={q} setQ={setQ} placeholder="Search pools..." count={pools.length} />
      <EmptyState
        source={props.source}
        ui={props.ui}
        kinds={["pooledRemoteMachines"]}
        what="pools"
        empty={pools.length === 0 && !q}
      />
      <VirtualTable rows={pools} columns={cols} rowKey={(r) => `${r.namespace}/${r.pool}`} testId="pools-table" />
    </div>
  );
});
