/**
 * The extension's renderer entry: registrations only. Pages, panels and menus are in views/,
 * what actions mean in model/, everything host-specific in adapter/lens.ts.
 */
import * as React from "react";
import { lensKit } from "./adapter/kit.js";
import {
  HostIcon,
  HostMenuEntry,
  type HostStatus,
  LensExtensionBase,
  lensSource,
  lensUi,
  StatusLevel,
} from "./adapter/lens.js";
import { poolMachineStatusText, remoteMachineStatusText, type StatusText } from "./model/rows.js";
import type { Obj } from "./model/types.js";
import { MachinesPage, RemoteMachinesPage } from "./views/lists.js";
import { ClusterMenu, MachineDeploymentMenu, type MenuProps, PoolMachineMenu } from "./views/menus.js";
import { ClustersPage, PoolsPage } from "./views/pages.js";
import { MachineRemoteDetails, PoolMachineDetails, RemoteMachineDetails } from "./views/panels.js";

const INFRA_VERSIONS = ["infrastructure.cluster.x-k8s.io/v1beta1", "infrastructure.cluster.x-k8s.io/v1beta2"];
const CAPI_VERSIONS = ["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"];

/** Hosts hand over KubeObject instances; the views read plain JSON. */
const plain = (o: unknown): Obj =>
  typeof (o as { toPlainObject?: unknown })?.toPlainObject === "function"
    ? (o as { toPlainObject(): Obj }).toPlainObject()
    : (o as Obj);

const props = () => ({ source: lensSource(), ui: lensUi, kit: lensKit });

const MenuIcon = (p: { material: string }) => <HostIcon material={p.material} />;

/**
 * Lens 6.5 drops a status the resolver does not return (`.filter(isDefined)`), though its type
 * asks for one; a healthy object has none. Freelens 1.8+ ignores status texts altogether, so the
 * same warnings also show inside our own lists.
 */
const status = (t: StatusText | undefined): HostStatus =>
  (t
    ? {
        level:
          t.level === "critical"
            ? StatusLevel.CRITICAL
            : t.level === "warning"
              ? StatusLevel.WARNING
              : StatusLevel.INFO,
        text: t.text,
      }
    : undefined) as HostStatus;

const menu = (Menu: React.ComponentType<MenuProps>) => (p: { object: unknown; toolbar?: boolean }) => (
  <Menu {...props()} object={plain(p.object)} toolbar={p.toolbar === true} Entry={HostMenuEntry} />
);

const STATUS_TEXTS = [
  {
    kind: "RemoteMachine",
    apiVersions: INFRA_VERSIONS,
    resolve: (o: unknown) => status(remoteMachineStatusText(plain(o))),
  },
  {
    kind: "PooledRemoteMachine",
    apiVersions: INFRA_VERSIONS,
    resolve: (o: unknown) => status(poolMachineStatusText(plain(o))),
  },
];

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
  override clusterPages = PAGES.map((p) => ({ id: p.id, components: { Page: p.Page } }));

  override clusterPageMenus = [
    { id: "capi", title: "Cluster API", components: { Icon: () => <MenuIcon material="hub" /> } },
    ...PAGES.map((p) => ({
      id: `${p.id}-menu`,
      parentId: "capi",
      target: { pageId: p.id },
      title: p.title,
      components: { Icon: () => <MenuIcon material={p.icon} /> },
    })),
  ];

  override kubeObjectDetailItems = [
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

  override kubeObjectMenuItems = [
    { kind: "PooledRemoteMachine", apiVersions: INFRA_VERSIONS, components: { MenuItem: menu(PoolMachineMenu) } },
    { kind: "Cluster", apiVersions: CAPI_VERSIONS, components: { MenuItem: menu(ClusterMenu) } },
    { kind: "MachineDeployment", apiVersions: CAPI_VERSIONS, components: { MenuItem: menu(MachineDeploymentMenu) } },
  ];

  constructor(...args: ConstructorParameters<typeof LensExtensionBase>) {
    super(...args);
    // Status texts exist in Lens 6.5 and Freelens < 1.8 only (Freelens 1.8 removed them), so the
    // property is set here rather than declared as an override of a member one host lacks.
    Object.assign(this, { kubeObjectStatusTexts: STATUS_TEXTS });
  }
}
