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
import { Conditions, Link, Since, type ViewProps } from "./common.js";
import type { Kit, Tone } from "./kit.js";

const find = (source: DataSource, kind: KindKey, ns: string | undefined, name: string | undefined) =>
  name ? source.items(kind).find((x) => x.metadata.namespace === ns && x.metadata.name === name) : undefined;

/** A titled part of a panel, as Lens's own detail panels are laid out. */
const Section = (props: { kit: Kit; title: string; children: React.ReactNode }) => (
  <div className="capi-section">
    <props.kit.Title>{props.title}</props.kit.Title>
    {props.children}
  </div>
);

const PHASE_TONES: Record<string, Tone> = {
  Available: "ok",
  InUse: "ok",
  Failed: "error",
  Quarantined: "error",
  Cordoned: "warning",
};

export const RemoteMachineDetails = observer(function RemoteMachineDetails(props: ViewProps & { object: Obj }) {
  const rm = fresh(props.source, "remoteMachines", props.object);
  const { Item, Badge } = props.kit;
  const provisioned = rm.status?.initialization?.provisioned ?? rm.status?.ready ?? false;
  const ns = rm.metadata.namespace;
  const machine = machineOf(props.source, rm);
  const s = rm.spec ?? {};
  const poolMachine = rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
  return (
    <div className="capi-panel" data-testid="panel-remote-machine">
      <Section kit={props.kit} title="SSH target">
        <Item name="Address">
          {s.address ? `${s.user ?? "root"}@${s.address}:${s.port ?? 22}` : "not yet (waiting for a pool machine)"}
        </Item>
        <Item name="Sudo">{s.useSudo ? "sudo -n" : "no"}</Item>
        <Item name="Bastion">
          {s.bastion ? `${s.bastion.user ?? "root"}@${s.bastion.address}:${s.bastion.port ?? 22}` : "none"}
        </Item>
        <Item name="Host key">{hostKeyState(rm) || "not seen yet"}</Item>
        <Item name="Provider ID">{s.providerID ?? ""}</Item>
      </Section>
      <Section kit={props.kit} title="Pool">
        <Item name="Pool">{s.pool ?? "not from a pool"}</Item>
        {poolMachine ? (
          <Item name="Pool machine">
            <Link ui={props.ui} kind="PooledRemoteMachine" namespace={ns} name={poolMachine} />
          </Item>
        ) : null}
      </Section>
      <Section kit={props.kit} title="Bootstrap">
        <Item name="Progress">
          <Badge
            label={bootstrapProgress(rm) || "not started"}
            tone={provisioned ? "ok" : rm.status?.bootstrap?.phase === "Failed" ? "error" : "info"}
            testId="bootstrap-progress"
          />
        </Item>
        <Item name="Started">
          <Since ts={rm.status?.bootstrap?.startedAt} />
        </Item>
      </Section>
      <Section kit={props.kit} title="Related">
        <Item name="Machine">
          {machine ? <Link ui={props.ui} kind="Machine" namespace={ns} name={machine.metadata.name} /> : "none"}
        </Item>
        <Item name="Cluster">
          {machine ? <Link ui={props.ui} kind="Cluster" namespace={ns} name={machine.spec?.clusterName} /> : ""}
        </Item>
        <Item name="Node">
          {machine?.status?.nodeRef?.name ? (
            <Link ui={props.ui} kind="Node" name={machine.status.nodeRef.name} />
          ) : (
            "not yet"
          )}
        </Item>
      </Section>
      <Section kit={props.kit} title="Conditions">
        <Conditions conditions={conditionsOf(rm)} />
      </Section>
    </div>
  );
});

export const PoolMachineDetails = observer(function PoolMachineDetails(props: ViewProps & { object: Obj }) {
  const p = fresh(props.source, "pooledRemoteMachines", props.object);
  const { Item, Badge } = props.kit;
  const ns = p.metadata.namespace;
  const rms = new Map(
    props.source.items("remoteMachines").map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]),
  );
  const who = claimantName(p as never);
  const claimant = who ? rms.get(`${ns}/${who}`) : undefined;
  const machine = claimant ? machineOf(props.source, claimant) : undefined;
  const f = p.status?.facts ?? {};
  const events = props.source.eventsOf(p).slice(0, 10);
  const phase = phaseOf(p, rms);
  return (
    <div className="capi-panel" data-testid="panel-pool-machine">
      <Section kit={props.kit} title="Pool machine">
        <Item name="Phase">
          <Badge label={phase} tone={PHASE_TONES[phase] ?? "info"} testId="pool-phase" />
          {p.spec?.cordoned && phase !== "Cordoned" ? <Badge label="cordoned" tone="warning" /> : null}
        </Item>
        <Item name="Pool">{p.spec?.pool}</Item>
        <Item name="Address">{`${p.spec?.machine?.user ?? "root"}@${p.spec?.machine?.address}:${p.spec?.machine?.port ?? 22}`}</Item>
        <Item name="Host key">{hostKeyState(p) || "not seen yet"}</Item>
      </Section>
      <Section kit={props.kit} title="Claim">
        <Item name="RemoteMachine">
          {who ? <Link ui={props.ui} kind="RemoteMachine" namespace={ns} name={who} /> : "none"}
        </Item>
        {who && !claimant ? (
          <Item name="Note">the RemoteMachine no longer exists: release this machine to return it</Item>
        ) : null}
        <Item name="Machine">
          {machine ? <Link ui={props.ui} kind="Machine" namespace={ns} name={machine.metadata.name} /> : ""}
        </Item>
        <Item name="Cluster">
          {machine ? <Link ui={props.ui} kind="Cluster" namespace={ns} name={machine.spec?.clusterName} /> : ""}
        </Item>
      </Section>
      <Section kit={props.kit} title="Facts">
        <Item name="Hostname">{f.hostname ?? ""}</Item>
        <Item name="OS">{f.osImage ?? f.operatingSystem ?? ""}</Item>
        <Item name="Kernel">{f.kernelVersion ?? ""}</Item>
        <Item name="Architecture">{f.architecture ?? ""}</Item>
        <Item name="CPUs">{f.cpus ?? ""}</Item>
        <Item name="Memory">{humanMemory(f.memory)}</Item>
      </Section>
      <Section kit={props.kit} title="Conditions">
        <Conditions conditions={conditionsOf(p)} />
      </Section>
      <Section kit={props.kit} title="Recent events">
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
  const { Item } = props.kit;
  const ref = m.spec?.infrastructureRef;
  if (ref?.kind !== "RemoteMachine") return null;
  const rm = find(props.source, "remoteMachines", m.metadata.namespace, ref.name);
  if (!rm) return <div data-testid="panel-machine-remote">RemoteMachine {ref.name} not found.</div>;
  return (
    <div data-testid="panel-machine-remote">
      <Section kit={props.kit} title="Remote machine">
        <Item name="RemoteMachine">
          <Link ui={props.ui} kind="RemoteMachine" namespace={m.metadata.namespace} name={ref.name} />
        </Item>
      </Section>
      <RemoteMachineDetails {...props} object={rm} />
    </div>
  );
});
