/**
 * Detail panels (RemoteMachine, PooledRemoteMachine, CAPI Machine on a RemoteMachine). The object comes from Lens as a plain JSON copy; related objects are
 * read from the data source so the panel follows watch updates.
 */
import { RemoteAnnotations } from "@capi-remote/shared/contract";
import { claimantName } from "@capi-remote/shared/pools";
import { observer } from "mobx-react";
import * as React from "react";
import { conditionsOf } from "../model/conditions.js";
import { fresh, machineOf } from "../model/intents.js";
import { bootstrapProgress, hostKeyState, humanMemory, phaseOf } from "../model/rows.js";
import type { DataSource, KindKey, Obj } from "../model/types.js";
import { Conditions, Field, Link, Since, type ViewProps } from "./common.js";

const find = (source: DataSource, kind: KindKey, ns: string | undefined, name: string | undefined) =>
  name ? source.items(kind).find((x) => x.metadata.namespace === ns && x.metadata.name === name) : undefined;

const Section = (props: { title: string; children: React.ReactNode }) => (
  <div className="capi-section" style={{ marginTop: 12 }}>
    <div style={{ fontWeight: "bold", borderBottom: "1px solid var(--borderColor, #555)", marginBottom: 4 }}>
      {props.title}
    </div>
    {props.children}
  </div>
);

export const RemoteMachineDetails = observer(function RemoteMachineDetails(props: ViewProps & { object: Obj }) {
  const rm = fresh(props.source, "remoteMachines", props.object);
  const ns = rm.metadata.namespace;
  const machine = machineOf(props.source, rm);
  const s = rm.spec ?? {};
  const poolMachine = rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
  return (
    <div className="capi-panel" data-testid="panel-remote-machine">
      <Section title="SSH target">
        <Field name="Address">
          {s.address ? `${s.user ?? "root"}@${s.address}:${s.port ?? 22}` : "not yet (waiting for a pool machine)"}
        </Field>
        <Field name="Sudo">{s.useSudo ? "sudo -n" : "no"}</Field>
        <Field name="Bastion">
          {s.bastion ? `${s.bastion.user ?? "root"}@${s.bastion.address}:${s.bastion.port ?? 22}` : "none"}
        </Field>
        <Field name="Host key">{hostKeyState(rm) || "not seen yet"}</Field>
        <Field name="Provider ID">{s.providerID ?? ""}</Field>
      </Section>
      <Section title="Pool">
        <Field name="Pool">{s.pool ?? "not from a pool"}</Field>
        {poolMachine ? (
          <Field name="Pool machine">
            <Link ui={props.ui} kind="PooledRemoteMachine" namespace={ns} name={poolMachine} />
          </Field>
        ) : null}
      </Section>
      <Section title="Bootstrap">
        <Field name="Progress">{bootstrapProgress(rm) || "not started"}</Field>
        <Field name="Started">
          <Since ts={rm.status?.bootstrap?.startedAt} />
        </Field>
      </Section>
      <Section title="Related">
        <Field name="Machine">
          {machine ? <Link ui={props.ui} kind="Machine" namespace={ns} name={machine.metadata.name} /> : "none"}
        </Field>
        <Field name="Cluster">
          {machine ? <Link ui={props.ui} kind="Cluster" namespace={ns} name={machine.spec?.clusterName} /> : ""}
        </Field>
        <Field name="Node">
          {machine?.status?.nodeRef?.name ? (
            <Link ui={props.ui} kind="Node" name={machine.status.nodeRef.name} />
          ) : (
            "not yet"
          )}
        </Field>
      </Section>
      <Section title="Conditions">
        <Conditions conditions={conditionsOf(rm)} />
      </Section>
    </div>
  );
});

export const PoolMachineDetails = observer(function PoolMachineDetails(props: ViewProps & { object: Obj }) {
  const p = fresh(props.source, "pooledRemoteMachines", props.object);
  const ns = p.metadata.namespace;
  const rms = new Map(
    props.source.items("remoteMachines").map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]),
  );
  const who = claimantName(p as never);
  const claimant = who ? rms.get(`${ns}/${who}`) : undefined;
  const machine = claimant ? machineOf(props.source, claimant) : undefined;
  const f = p.status?.facts ?? {};
  const events = props.source.eventsOf(p).slice(0, 10);
  return (
    <div className="capi-panel" data-testid="panel-pool-machine">
      <Section title="Pool machine">
        <Field name="Phase">
          <span data-testid="pool-phase">{phaseOf(p, rms)}</span>
          {p.spec?.cordoned ? " (cordoned)" : ""}
        </Field>
        <Field name="Pool">{p.spec?.pool}</Field>
        <Field name="Address">{`${p.spec?.machine?.user ?? "root"}@${p.spec?.machine?.address}:${p.spec?.machine?.port ?? 22}`}</Field>
        <Field name="Host key">{hostKeyState(p) || "not seen yet"}</Field>
      </Section>
      <Section title="Claim">
        <Field name="RemoteMachine">
          {who ? <Link ui={props.ui} kind="RemoteMachine" namespace={ns} name={who} /> : "none"}
        </Field>
        {who && !claimant ? (
          <Field name="Note">the RemoteMachine no longer exists: release this machine to return it</Field>
        ) : null}
        <Field name="Machine">
          {machine ? <Link ui={props.ui} kind="Machine" namespace={ns} name={machine.metadata.name} /> : ""}
        </Field>
        <Field name="Cluster">
          {machine ? <Link ui={props.ui} kind="Cluster" namespace={ns} name={machine.spec?.clusterName} /> : ""}
        </Field>
      </Section>
      <Section title="Facts">
        <Field name="Hostname">{f.hostname ?? ""}</Field>
        <Field name="OS">{f.osImage ?? f.operatingSystem ?? ""}</Field>
        <Field name="Kernel">{f.kernelVersion ?? ""}</Field>
        <Field name="Architecture">{f.architecture ?? ""}</Field>
        <Field name="CPUs">{f.cpus ?? ""}</Field>
        <Field name="Memory">{humanMemory(f.memory)}</Field>
      </Section>
      <Section title="Conditions">
        <Conditions conditions={conditionsOf(p)} />
      </Section>
      <Section title="Recent events">
        {events.length ? (
          events.map((e, i) => (
            <div
              key={`${e.reason}-${i}`}
              className="capi-event"
              style={{ color: e.type === "Warning" ? "var(--colorWarning, #ff9800)" : undefined }}
            >
              <Since ts={e.lastTimestamp} /> {e.reason}: {e.message}
              {e.count && e.count > 1 ? ` (x${e.count})` : ""}
            </div>
          ))
        ) : (
          <div>none</div>
        )}
      </Section>
    </div>
  );
});

/** The panel on CAPI Machines whose infrastructure is a RemoteMachine. */
export const MachineRemoteDetails = observer(function MachineRemoteDetails(props: ViewProps & { object: Obj }) {
  const m = props.object;
  const ref = m.spec?.infrastructureRef;
  if (ref?.kind !== "RemoteMachine") return null;
  const rm = find(props.source, "remoteMachines", m.metadata.namespace, ref.name);
  if (!rm) return <div data-testid="panel-machine-remote">RemoteMachine {ref.name} not found.</div>;
  return (
    <div data-testid="panel-machine-remote">
      <Section title="Remote machine">
        <Field name="RemoteMachine">
          <Link ui={props.ui} kind="RemoteMachine" namespace={m.metadata.namespace} name={ref.name} />
        </Field>
      </Section>
      <RemoteMachineDetails {...props} object={rm} />
    </div>
  );
});
