/**
 * Menu items for pool machines (cordon, uncordon, release), Clusters (pause, resume) and
 * MachineDeployments (scale up and down). The host renders the same items in a list row's menu
 * and in the details drawer's toolbar (`toolbar`); `Entry` is the host's item (icon with tooltip
 * plus title, as Lens's own items are), so these views need no host import.
 */
import { observer } from "mobx-react";
import * as React from "react";
import { availableActions, type PoolAction } from "../model/actions.js";
import { fresh, POOL_ACTION_LABELS, poolAction, scaleDeployment, setClusterPaused } from "../model/intents.js";
import type { Obj } from "../model/types.js";
import type { ViewProps } from "./common.js";

export interface EntryProps {
  /** Material icon name. */
  icon: string;
  label: string;
  /** Stable name for tests and styling. */
  action: string;
  toolbar: boolean;
  onClick(): void;
}

export type MenuProps = ViewProps & { object: Obj; toolbar: boolean; Entry: React.ComponentType<EntryProps> };

const POOL_ICONS: Record<PoolAction, string> = { cordon: "block", uncordon: "play_circle_outline", release: "logout" };

export const PoolMachineMenu = observer(function PoolMachineMenu(props: MenuProps) {
  const p = fresh(props.source, "pooledRemoteMachines", props.object);
  const { Entry } = props;
  return (
    <>
      {availableActions(p).map((a) => (
        <Entry
          key={a}
          icon={POOL_ICONS[a]}
          label={POOL_ACTION_LABELS[a]}
          action={a}
          toolbar={props.toolbar}
          onClick={() => void poolAction(props.source, props.ui, p, a)}
        />
      ))}
    </>
  );
});

export const ClusterMenu = observer(function ClusterMenu(props: MenuProps) {
  const c = fresh(props.source, "clusters", props.object);
  const paused = c.spec?.paused === true;
  const { Entry } = props;
  return (
    <Entry
      icon={paused ? "play_arrow" : "pause"}
      label={paused ? "Resume" : "Pause"}
      action={paused ? "resume" : "pause"}
      toolbar={props.toolbar}
      onClick={() => void setClusterPaused(props.source, props.ui, c, !paused)}
    />
  );
});

export const MachineDeploymentMenu = observer(function MachineDeploymentMenu(props: MenuProps) {
  const md = fresh(props.source, "machineDeployments", props.object);
  const n = Number(md.spec?.replicas ?? 0);
  const { Entry } = props;
  return (
    <>
      <Entry
        icon="add_circle_outline"
        label={`Scale to ${n + 1}`}
        action="scale-up"
        toolbar={props.toolbar}
        onClick={() => void scaleDeployment(props.source, props.ui, md, 1)}
      />
      {n > 0 ? (
        <Entry
          icon="remove_circle_outline"
          label={`Scale to ${n - 1}`}
          action="scale-down"
          toolbar={props.toolbar}
          onClick={() => void scaleDeployment(props.source, props.ui, md, -1)}
        />
      ) : null}
    </>
  );
});
