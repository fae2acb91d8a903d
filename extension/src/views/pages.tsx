/**
 * The four pages under "Cluster API": Clusters (trees), Machines, Remote machines and Pools.
 * Each is an observer of the data source: a watch update re-renders only what changed.
 */
import { computed } from "mobx";
import { observer } from "mobx-react";
import * as React from "react";
import {
  type MachineRow,
  machineRows,
  type PoolMachineRow,
  type PoolRow,
  poolMachineRows,
  poolRows,
  type RemoteMachineRow,
  remoteMachineRows,
} from "../model/rows.js";
import { type ClusterInput, clusterTrees, type TreeRow } from "../model/tree.js";
import type { DataSource, Obj } from "../model/types.js";
import {
  type Column,
  Dot,
  EmptyState,
  Filter,
  Link,
  LinkButton,
  pageStyle,
  Since,
  type ViewProps,
  VirtualTable,
} from "./common.js";

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

const TreeTable = (props: { rows: TreeRow[]; ui: ViewProps["ui"] }) => (
  <table className="capi-tree" style={{ borderCollapse: "collapse", width: "100%", marginBottom: 24 }}>
    <thead>
      <tr style={{ textAlign: "left" }}>
        <th>Name</th>
        <th>Replicas</th>
        <th>Available</th>
        <th>Ready</th>
        <th>Up to date</th>
        <th>Status</th>
        <th>Reason</th>
        <th>Since</th>
        <th>Message</th>
      </tr>
    </thead>
    <tbody>
      {props.rows.map((r) => (
        <tr key={r.id} data-kind={r.kind} data-name={r.name} data-level={r.level}>
          <td style={{ paddingLeft: 8 + r.depth * 18, whiteSpace: "nowrap" }}>
            <Dot level={r.level} />
            <span style={{ color: "var(--textColorSecondary, #999)" }}>{r.kind} </span>
            {r.names ? (
              <span title={r.names.join(", ")}>{r.name}</span>
            ) : (
              <Link ui={props.ui} kind={r.kind} namespace={r.namespace} name={r.name} />
            )}
            {r.paused ? " (paused)" : ""}
          </td>
          <td>{r.replicas ?? ""}</td>
          <td>{r.available ?? ""}</td>
          <td>{r.ready ?? ""}</td>
          <td>{r.upToDate ?? ""}</td>
          <td>{r.status}</td>
          <td>{r.reason}</td>
          <td>
            <Since ts={r.since} />
          </td>
          <td style={{ whiteSpace: "pre-wrap", maxWidth: 480 }}>{r.message}</td>
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
      <h2>Clusters</h2>
      <EmptyState
        source={props.source}
        kinds={["clusters", "machines"]}
        what="Clusters"
        empty={trees.length === 0 && !q}
      />
      <Filter value={q} onChange={setQ} placeholder="Filter by cluster or namespace" />
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
// Machines

export const MachinesPage = observer(function MachinesPage(props: ViewProps) {
  const [q, setQ] = React.useState("");
  const rows = computed(() => machineRows(props.source.items("machines")))
    .get()
    .filter((r) => match(q, r.name, r.namespace, r.cluster, r.node, r.phase));
  const cols: Column<MachineRow>[] = [
    {
      title: "Name",
      width: 220,
      cell: (r) => (
        <>
          <Dot level={r.level} title={r.message} />
          <Link ui={props.ui} kind="Machine" namespace={r.namespace} name={r.name} />
        </>
      ),
    },
    { title: "Namespace", width: 130, cell: (r) => r.namespace },
    {
      title: "Cluster",
      width: 130,
      cell: (r) => <Link ui={props.ui} kind="Cluster" namespace={r.namespace} name={r.cluster} />,
    },
    { title: "Phase", width: 100, cell: (r) => r.phase },
    { title: "Node", width: 140, cell: (r) => r.node },
    { title: "Provider ID", width: 230, cell: (r) => r.providerID },
    { title: "Infrastructure", width: 230, cell: (r) => `${r.infraKind}/${r.infraName}` },
    { title: "Version", width: 90, cell: (r) => r.version },
    { title: "Age", width: 60, cell: (r) => <Since ts={r.created} /> },
    { title: "Reason", width: 200, cell: (r) => <span title={r.message}>{r.reason}</span> },
  ];
  return (
    <div style={pageStyle} data-testid="page-machines">
      <h2>Machines</h2>
      <EmptyState source={props.source} kinds={["machines"]} what="Machines" empty={rows.length === 0 && !q} />
      <Filter value={q} onChange={setQ} placeholder="Filter by name, cluster, node or phase" />
      <VirtualTable rows={rows} columns={cols} rowKey={(r) => `${r.namespace}/${r.name}`} testId="machines-table" />
    </div>
  );
});

// ---------------------------------------------------------------------------------------------
// Remote machines

export const RemoteMachinesPage = observer(function RemoteMachinesPage(props: ViewProps) {
  const [q, setQ] = React.useState("");
  const rows = remoteMachineRows(props.source.items("remoteMachines")).filter((r) =>
    match(q, r.name, r.namespace, r.address, r.pool),
  );
  const cols: Column<RemoteMachineRow>[] = [
    {
      title: "Name",
      width: 200,
      cell: (r) => (
        <>
          <Dot level={r.level} title={r.message} />
          <Link ui={props.ui} kind="RemoteMachine" namespace={r.namespace} name={r.name} />
        </>
      ),
    },
    { title: "Namespace", width: 120, cell: (r) => r.namespace },
    { title: "Address", width: 130, cell: (r) => r.address },
    { title: "User", width: 70, cell: (r) => r.user },
    {
      title: "Pool",
      width: 160,
      cell: (r) => (r.pool ? `${r.pool}${r.poolMachine ? ` (${r.poolMachine})` : ""}` : ""),
    },
    { title: "Provisioned", width: 90, cell: (r) => (r.provisioned ? "yes" : "no") },
    { title: "Bootstrap", width: 200, cell: (r) => r.progress },
    { title: "Host key", width: 260, cell: (r) => r.hostKey },
    { title: "Reason", width: 200, cell: (r) => <span title={r.message}>{r.reason}</span> },
  ];
  return (
    <div style={pageStyle} data-testid="page-remote-machines">
      <h2>Remote machines</h2>
      <EmptyState
        source={props.source}
        kinds={["remoteMachines"]}
        what="RemoteMachines"
        empty={rows.length === 0 && !q}
      />
      <Filter value={q} onChange={setQ} placeholder="Filter by name, address or pool" />
      <VirtualTable
        rows={rows}
        columns={cols}
        rowKey={(r) => `${r.namespace}/${r.name}`}
        testId="remote-machines-table"
      />
    </div>
  );
});

// ---------------------------------------------------------------------------------------------
// Pools

export function poolData(source: DataSource) {
  const machines = poolMachineRows(
    source.items("pooledRemoteMachines"),
    source.items("remoteMachines"),
    source.items("machines"),
  );
  return { machines, pools: poolRows(machines, source.items("remoteMachineTemplates")) };
}

const PoolMachinesTable = observer(function PoolMachinesTable(props: ViewProps & { rows: PoolMachineRow[] }) {
  const cols: Column<PoolMachineRow>[] = [
    {
      title: "Name",
      width: 180,
      cell: (r) => (
        <>
          <Dot level={r.level} title={r.message} />
          <Link ui={props.ui} kind="PooledRemoteMachine" namespace={r.namespace} name={r.name} />
        </>
      ),
    },
    {
      title: "Phase",
      width: 100,
      cell: (r) => `${r.phase}${r.cordoned && r.phase !== "Cordoned" ? " (cordoned)" : ""}`,
    },
    { title: "Address", width: 120, cell: (r) => r.address },
    {
      title: "Claimed by",
      width: 180,
      cell: (r) => <Link ui={props.ui} kind="RemoteMachine" namespace={r.namespace} name={r.claimedBy} />,
    },
    {
      title: "Machine",
      width: 180,
      cell: (r) => <Link ui={props.ui} kind="Machine" namespace={r.namespace} name={r.machine} />,
    },
    {
      title: "Cluster",
      width: 100,
      cell: (r) => <Link ui={props.ui} kind="Cluster" namespace={r.namespace} name={r.cluster} />,
    },
    { title: "OS", width: 170, cell: (r) => r.os },
    { title: "Arch", width: 60, cell: (r) => r.arch },
    { title: "CPUs", width: 45, cell: (r) => r.cpus },
    { title: "Memory", width: 80, cell: (r) => r.memory },
    { title: "Problem", width: 240, cell: (r) => <span title={r.message}>{r.message}</span> },
  ];
  return (
    <VirtualTable
      rows={props.rows}
      columns={cols}
      rowKey={(r) => `${r.namespace}/${r.name}`}
      testId="pool-machines-table"
    />
  );
});

export const PoolsPage = observer(function PoolsPage(props: ViewProps & { initialPool?: string }) {
  const [open, setOpen] = React.useState<string | undefined>(props.initialPool);
  const [q, setQ] = React.useState("");
  const data = poolData(props.source);
  if (open) {
    const [ns, pool] = open.split("/") as [string, string];
    const rows = data.machines.filter(
      (m) => m.namespace === ns && m.pool === pool && match(q, m.name, m.address, m.phase, m.claimedBy),
    );
    const counts = data.pools.find((p) => p.namespace === ns && p.pool === pool);
    return (
      <div style={pageStyle} data-testid="page-pool">
        <LinkButton onClick={() => setOpen(undefined)}>All pools</LinkButton>
        <h2>
          Pool {pool} <span style={{ fontSize: 13 }}>({ns})</span>
        </h2>
        {counts ? (
          <p data-testid="pool-counts">
            {counts.total} machines: {counts.available} available, {counts.inUse} in use,{" "}
            {counts.claimed - counts.inUse} claimed otherwise, {counts.cordoned} cordoned, {counts.quarantined}{" "}
            quarantined
            {counts.templates.length ? ` - used by ${counts.templates.join(", ")}` : ""}
          </p>
        ) : null}
        <Filter value={q} onChange={setQ} placeholder="Filter by name, address, phase or holder" />
        <PoolMachinesTable {...props} rows={rows} />
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
      <h2>Pools</h2>
      <EmptyState
        source={props.source}
        kinds={["pooledRemoteMachines"]}
        what="pools"
        empty={pools.length === 0 && !q}
      />
      <Filter value={q} onChange={setQ} placeholder="Filter by pool or namespace" />
      <VirtualTable rows={pools} columns={cols} rowKey={(r) => `${r.namespace}/${r.pool}`} testId="pools-table" />
    </div>
  );
});
