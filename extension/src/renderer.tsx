/**
 * The extension's renderer entry: registers the Cluster API pages, detail panels, menu items and
 * status texts with the host. Everything host-specific comes from ./adapter/lens.ts.
 */
import * as React from "react";
import { HostIcon, HostMenuItem, LensExtensionBase, lensSource, lensUi, StatusLevel } from "./adapter/lens.js";
import { poolMachineStatusText, remoteMachineStatusText, type StatusText } from "./model/rows.js";
import type { Obj } from "./model/types.js";
import { ClustersPage, MachinesPage, PoolsPage, RemoteMachinesPage } from "./views/pages.js";
import {
  MachineRemoteDetails,
  PoolMachineDetails,
  PoolMachineMenu,
  RemoteMachineDetails,
  scaleDeployment,
  setClusterPaused,
} from "./views/panels.js";

const INFRA_VERSIONS = ["infrastructure.cluster.x-k8s.io/v1beta1", "infrastructure.cluster.x-k8s.io/v1beta2"];
const CAPI_VERSIONS = ["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"];

/** Hosts hand over KubeObject instances; the views read plain JSON. */
const plain = (o: unknown): Obj =>
  typeof (o as { toPlainObject?: unknown })?.toPlainObject === "function"
    ? (o as { toPlainObject(): Obj }).toPlainObject()
    : (o as Obj);

const props = () => ({ source: lensSource(), ui: lensUi });

const MenuIcon = (p: { material: string }) => <HostIcon material={p.material} />;

const Item = (p: { onClick(): void; children: React.ReactNode }) => (
  <HostMenuItem onClick={p.onClick}>{p.children}</HostMenuItem>
);

const level = (t: StatusText | undefined) =>
  t
    ? {
        level:
          t.level === "critical"
            ? StatusLevel.CRITICAL
            : t.level === "warning"
              ? StatusLevel.WARNING
              : StatusLevel.INFO,
        text: t.text,
      }
    : undefined;

export const PAGES = [
  { id: "capi-clusters", title: "Clusters", icon: "account_tree", Page: () => <ClustersPage {...props()} /> },
  { id: "capi-machines", title: "Machines", icon: "dns", Page: () => <MachinesPage {...props()} /> },
  {
    id: "capi-remote-machines",
    title: "Remote machines",
    icon: "settings_ethernet",
    Page: () => <RemoteMachinesPage {...props()} />,
  },
  { id: "capi-pools", title: "Pools", icon: "workspaces", Page: () => <PoolsPage {...props()} /> },
];

export default class CapiRemoteExtension extends LensExtensionBase {
  clusterPages = PAGES.map((p) => ({ id: p.id, components: { Page: p.Page } }));

  clusterPageMenus = [
    { id: "capi", title: "Cluster API", components: { Icon: () => <MenuIcon material="hub" /> } },
    ...PAGES.map((p) => ({
      id: `${p.id}-menu`,
      parentId: "capi",
      target: { pageId: p.id },
      title: p.title,
      components: { Icon: () => <MenuIcon material={p.icon} /> },
    })),
  ];

  kubeObjectDetailItems = [
    {
      kind: "RemoteMachine",
      apiVersions: INFRA_VERSIONS,
      components: {
        Details: (p: { object: unknown }) => <RemoteMachineDetails {...props()} object={plain(p.object)} />,
      },
    },
    {
      kind: "PooledRemoteMachine",
      apiVersions: INFRA_VERSIONS,
      components: { Details: (p: { object: unknown }) => <PoolMachineDetails {...props()} object={plain(p.object)} /> },
    },
    {
      kind: "Machine",
      apiVersions: CAPI_VERSIONS,
      components: {
        Details: (p: { object: unknown }) => <MachineRemoteDetails {...props()} object={plain(p.object)} />,
      },
    },
  ];

  kubeObjectMenuItems = [
    {
      kind: "PooledRemoteMachine",
      apiVersions: INFRA_VERSIONS,
      components: {
        MenuItem: (p: { object: unknown }) => <PoolMachineMenu {...props()} object={plain(p.object)} Item={Item} />,
      },
    },
    {
      kind: "Cluster",
      apiVersions: CAPI_VERSIONS,
      components: {
        MenuItem: (p: { object: unknown }) => {
          const c = plain(p.object);
          const paused = c.spec?.paused === true;
          return (
            <Item onClick={() => void setClusterPaused(lensSource(), lensUi, c, !paused)}>
              <span className="capi-menu-item" data-action={paused ? "resume" : "pause"}>
                {paused ? "Resume" : "Pause"}
              </span>
            </Item>
          );
        },
      },
    },
    {
      kind: "MachineDeployment",
      apiVersions: CAPI_VERSIONS,
      components: {
        MenuItem: (p: { object: unknown }) => {
          const md = plain(p.object);
          const n = Number(md.spec?.replicas ?? 0);
          return (
            <>
              <Item onClick={() => void scaleDeployment(lensSource(), lensUi, md, n + 1)}>
                <span className="capi-menu-item" data-action="scale-up">
                  Scale to {n + 1}
                </span>
              </Item>
              {n > 0 ? (
                <Item onClick={() => void scaleDeployment(lensSource(), lensUi, md, n - 1)}>
                  <span className="capi-menu-item" data-action="scale-down">
                    Scale to {n - 1}
                  </span>
                </Item>
              ) : null}
            </>
          );
        },
      },
    },
  ];

  kubeObjectStatusTexts = [
    {
      kind: "RemoteMachine",
      apiVersions: INFRA_VERSIONS,
      resolve: (o: unknown) => level(remoteMachineStatusText(plain(o))),
    },
    {
      kind: "PooledRemoteMachine",
      apiVersions: INFRA_VERSIONS,
      resolve: (o: unknown) => level(poolMachineStatusText(plain(o))),
    },
  ];
}
