/**
 * The lists of one kind each, on the host's list layout (Kit.List): Machines, Remote machines and
 * the machines of a pool. The rows come from model/rows.ts; a row's warning is the same text
 * Lens 6 shows as the object's status icon, in its own column so Freelens 1.8+ shows it too.
 */
import { computed } from "mobx";
import { observer } from "mobx-react";
import * as React from "react";
import {
  type MachineRow,
  machineRow,
  type PoolMachineRow,
  poolMachineRows,
  type RemoteMachineRow,
  remoteMachineRows,
  type StatusText,
} from "../model/rows.js";
import type { DataSource, Obj } from "../model/types.js";
import { EmptyState, Link, Since, type ViewProps } from "./common.js";
import type { KeyedRow, Kit, ListColumn } from "./kit.js";

/** Lens's list layout fills its container as a column. */
const listPageStyle: React.CSSProperties = { height: "100%", display: "flex", flexDirection: "column" };

const byKey = <R extends KeyedRow>(rows: R[]) => new Map(rows.map((r) => [`${r.namespace}/${r.name}`, r]));

/** A row's name, marked with its key for tests and styling (the row itself opens the drawer). */
const Name = (p: { row: KeyedRow }) => (
  <span className="capi-name" data-key={`${p.row.namespace}/${p.row.name}`}>
    {p.row.name}
  </span>
);

const TONES = { info: "info", warning: "warning", critical: "error" } as const;

export function WarningBadge(p: { kit: Kit; warning: StatusText | undefined }) {
  if (!p.warning) return null;
  return (
    <p.kit.Badge label={p.warning.text} tone={TONES[p.warning.level]} tooltip={p.warning.text} testId="capi-warning" />
  );
}

const LEVEL_ORDER = { info: 1, warning: 2, critical: 3 } as const;
const warningSort = (r: { warning?: StatusText }) => (r.warning ? LEVEL_ORDER[r.warning.level] : 0);

/**
 * Rows of one object each, kept per object: the host replaces an object it updates (and the
 * source keeps one plain copy per host object), so a watch event recomputes one row, not 5,000.
 * The list layout sorts by itself, so these need no order.
 */
function perObject<R>(make: (o: Obj) => R) {
  const cache = new WeakMap<Obj, R>();
  return (objs: Obj[]) =>
    objs.map((o) => {
      let r = cache.get(o);
      if (r === undefined) {
        r = make(o);
        cache.set(o, r);
      }
      return r;
    });
}
const machineRowsOf = perObject(machineRow);

/** Rows computed once per change of the stores they read, not once per rendered row. */
function useRows<R>(make: () => R) {
  const box = React.useMemo(() => computed(make), []);
  return box.get();
}

export const MachinesPage = observer(function MachinesPage(props: ViewProps) {
  const rows = useRows(() => byKey(machineRowsOf(props.source.items("machines"))));
  const { ui } = props;
  const columns: ListColumn<MachineRow>[] = [
    { id: "name", title: "Name", sort: (r) => r.name, cell: (r) => <Name row={r} /> },
    { id: "namespace", title: "Namespace", sort: (r) => r.namespace, cell: (r) => r.namespace },
    {
      id: "cluster",
      title: "Cluster",
      sort: (r) => r.cluster,
      cell: (r) => <Link ui={ui} kind="Cluster" namespace={r.namespace} name={r.cluster} />,
    },
    { id: "phase", title: "Phase", sort: (r) => r.phase, cell: (r) => r.phase },
    { id: "node", title: "Node", sort: (r) => r.node, cell: (r) => r.node },
    { id: "provider-id", title: "Provider ID", sort: (r) => r.providerID, cell: (r) => r.providerID },
    { id: "infra", title: "Infrastructure", sort: (r) => r.infraName, cell: (r) => `${r.infraKind}/${r.infraName}` },
    { id: "version", title: "Version", sort: (r) => r.version, cell: (r) => r.version },
    { id: "age", title: "Age", sort: (r) => r.created ?? "", cell: (r) => <Since ts={r.created} /> },
    { id: "reason", title: "Reason", sort: (r) => r.reason, cell: (r) => <span title={r.message}>{r.reason}</span> },
  ];
  return (
    <div className="capi-page" style={listPageStyle} data-testid="page-machines">
      <EmptyState {...props} kinds={["machines"]} what="Machines" empty={false} list />
      {props.source.state("machines").missing ? null : (
        <props.kit.List
          id="machines"
          kind="machines"
          noun="machines"
          rows={() => rows}
          search={(r) => [r.name, r.namespace, r.cluster, r.node, r.phase, r.providerID]}
          columns={columns}
          testId="machines-table"
        />
      )}
    </div>
  );
});

export const RemoteMachinesPage = observer(function RemoteMachinesPage(props: ViewProps) {
  const rows = useRows(() => byKey(remoteMachineRows(props.source.items("remoteMachines"))));
  const { kit } = props;
  const columns: ListColumn<RemoteMachineRow>[] = [
    { id: "name", title: "Name", sort: (r) => r.name, cell: (r) => <Name row={r} /> },
    { id: "namespace", title: "Namespace", sort: (r) => r.namespace, cell: (r) => r.namespace },
    { id: "address", title: "Address", sort: (r) => r.address, cell: (r) => r.address },
    { id: "user", title: "User", sort: (r) => r.user, cell: (r) => r.user },
    {
      id: "pool",
      title: "Pool",
      sort: (r) => r.pool,
      cell: (r) => (r.pool ? `${r.pool}${r.poolMachine ? ` (${r.poolMachine})` : ""}` : ""),
    },
    {
      id: "provisioned",
      title: "Provisioned",
      sort: (r) => (r.provisioned ? 1 : 0),
      cell: (r) => (r.provisioned ? "yes" : "no"),
    },
    { id: "bootstrap", title: "Bootstrap", sort: (r) => r.progress, cell: (r) => r.progress },
    { id: "host-key", title: "Host key", cell: (r) => r.hostKey },
    { id: "warning", title: "Warning", sort: warningSort, cell: (r) => <WarningBadge kit={kit} warning={r.warning} /> },
  ];
  return (
    <div className="capi-page" style={listPageStyle} data-testid="page-remote-machines">
      <EmptyState {...props} kinds={["remoteMachines"]} what="RemoteMachines" empty={false} list />
      {props.source.state("remoteMachines").missing ? null : (
        <kit.List
          id="remote-machines"
          kind="remoteMachines"
          noun="remote machines"
          rows={() => rows}
          search={(r) => [r.name, r.namespace, r.address, r.pool, r.poolMachine, r.reason]}
          columns={columns}
          testId="remote-machines-table"
        />
      )}
    </div>
  );
});

export function poolMachineData(source: DataSource) {
  return poolMachineRows(
    source.items("pooledRemoteMachines"),
    source.items("remoteMachines"),
    source.items("machines"),
  );
}

/** The machines of one pool. */
export const PoolMachinesList = observer(function PoolMachinesList(
  props: ViewProps & { rows: Map<string, PoolMachineRow>; namespace: string; pool: string },
) {
  const { ui, kit } = props;
  const columns: ListColumn<PoolMachineRow>[] = [
    { id: "name", title: "Name", sort: (r) => r.name, cell: (r) => <Name row={r} /> },
    {
      id: "phase",
      title: "Phase",
      sort: (r) => r.phase,
      cell: (r) => `${r.phase}${r.cordoned && r.phase !== "Cordoned" ? " (cordoned)" : ""}`,
    },
    { id: "address", title: "Address", sort: (r) => r.address, cell: (r) => r.address },
    {
      id: "claimed-by",
      title: "Claimed by",
      sort: (r) => r.claimedBy,
      cell: (r) => <Link ui={ui} kind="RemoteMachine" namespace={r.namespace} name={r.claimedBy} />,
    },
    {
      id: "machine",
      title: "Machine",
      sort: (r) => r.machine,
      cell: (r) => <Link ui={ui} kind="Machine" namespace={r.namespace} name={r.machine} />,
    },
    {
      id: "cluster",
      title: "Cluster",
      sort: (r) => r.cluster,
      cell: (r) => <Link ui={ui} kind="Cluster" namespace={r.namespace} name={r.cluster} />,
    },
    { id: "os", title: "OS", sort: (r) => r.os, cell: (r) => r.os },
    { id: "arch", title: "Arch", sort: (r) => r.arch, cell: (r) => r.arch },
    { id: "cpus", title: "CPUs", sort: (r) => Number(r.cpus || 0), cell: (r) => r.cpus },
    { id: "memory", title: "Memory", cell: (r) => r.memory },
    { id: "warning", title: "Warning", sort: warningSort, cell: (r) => <WarningBadge kit={kit} warning={r.warning} /> },
  ];
  return (
    <kit.List
      id="pool-machines"
      kind="pooledRemoteMachines"
      noun="pool machines"
      rows={() => props.rows}
      show={(r) => r.namespace === props.namespace && r.pool === props.pool}
      search={(r) => [r.name, r.address, r.phase, r.claimedBy, r.machine, r.cluster]}
      columns={columns}
      testId="pool-machines-table"
    />
  );
});
