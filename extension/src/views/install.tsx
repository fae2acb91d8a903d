/**
 * The offer to install capi-remote where its kinds are not served, and the report of an install:
 * what is being applied, then what was applied, what failed and why, and what was not applied.
 * The report lives outside the page (an install can make the page's empty state go away, and a
 * partial one must stay explained).
 */
import { observable, runInAction } from "mobx";
import { observer } from "mobx-react";
import * as React from "react";
import { FIELD_MANAGER, type InstallProgress, install, summary } from "../model/install.js";
import { type DataSource, KIND_INFO, type KindKey, type UiActions } from "../model/types.js";

const CAPI_REMOTE_KINDS = (Object.keys(KIND_INFO) as KindKey[]).filter((k) => KIND_INFO[k].from === "capi-remote");

/** The last install of this window (one cluster frame shows one cluster). */
const run = observable.box<InstallProgress | undefined>(undefined, { deep: false });

/**
 * Lists capi-remote's kinds again until they are served: new definitions take a moment, and the
 * API server answers "storage is (re)initializing" for a while after they are established.
 */
async function untilServed(source: DataSource, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await Promise.all(CAPI_REMOTE_KINDS.map((k) => source.reload(k)));
    const waiting = CAPI_REMOTE_KINDS.some((k) => source.state(k).missing || source.state(k).error);
    if (!waiting || Date.now() > end) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function installCapiRemote(source: DataSource, ui: UiActions): Promise<InstallProgress | undefined> {
  const installer = source.installer;
  if (!installer) return undefined;
  const { manifests, client } = installer;
  const controller = manifests.find((m) => m.kind === "Deployment");
  const ok = await ui.confirm({
    title: "Install capi-remote into this cluster",
    message: `Applies capi-remote's ${manifests.length} objects (${summary(manifests)}) with server-side apply, as you (field manager ${FIELD_MANAGER}). Its controller runs as Deployment ${controller?.metadata.namespace}/${controller?.metadata.name} with rights on Cluster API's and capi-remote's kinds. First the cluster is asked whether you may create each of them: if not, nothing is applied.`,
    ok: "Install",
  });
  if (!ok) return undefined;
  const last = await install(manifests, client, (p) => runInAction(() => run.set(p)));
  if (last.phase === "done") {
    ui.ok(`capi-remote installed: ${last.applied.length} objects applied`);
    await untilServed(source);
  } else
    ui.error(
      last.phase === "refused"
        ? `capi-remote was not installed: the cluster refused ${last.refused?.length} of the rights it needs (listed on the page); nothing was applied`
        : `capi-remote was not installed: ${last.failed?.object}: ${last.failed?.error}`,
    );
  return last;
}

/** The offer: shown where capi-remote's kinds are missing and the host can apply. */
export function InstallOffer(props: { source: DataSource; ui: UiActions }) {
  if (!props.source.installer) return null;
  const busy = run.get()?.phase === "checking" || run.get()?.phase === "applying";
  return (
    <button
      type="button"
      className="capi-install Button primary"
      data-testid="install-capi-remote"
      disabled={busy}
      onClick={() => void installCapiRemote(props.source, props.ui)}
    >
      Install capi-remote
    </button>
  );
}

const List = (p: { title: string; items: string[]; testId: string }) =>
  p.items.length ? (
    <div data-testid={p.testId}>
      <b>{p.title}</b> ({p.items.length}): {p.items.join(", ")}
    </div>
  ) : null;

/** Where the last install got to. */
export const InstallReport = observer(function InstallReport() {
  const p = run.get();
  if (!p) return null;
  const what = {
    checking: "Checking your rights to create capi-remote's objects...",
    applying: `Applying ${p.applied.length + 1} of ${p.total}: ${p.current ?? ""}`,
    done: `capi-remote installed: all ${p.total} objects applied.`,
    refused: "Nothing was applied: the cluster does not let you",
    failed: `Stopped: ${p.failed?.object} was not applied: ${p.failed?.error}`,
  }[p.phase];
  return (
    <div className={`capi-install-report capi-install-${p.phase}`} data-testid="install-report" data-phase={p.phase}>
      <p>
        <b>{what}</b>
      </p>
      {p.refused ? <List title="Refused" items={p.refused} testId="install-refused" /> : null}
      {p.phase === "refused" ? (
        <p>Ask a cluster admin to install capi-remote, or to grant you these rights and install again.</p>
      ) : null}
      {p.phase === "failed" && p.failed?.forbidden ? (
        <p>Your user may not create this object: ask a cluster admin to install capi-remote, or for these rights.</p>
      ) : null}
      {p.phase === "failed" || p.phase === "done" ? (
        <List title="Applied" items={p.applied} testId="install-applied" />
      ) : null}
      {p.phase === "failed" ? <List title="Not applied" items={p.notApplied} testId="install-not-applied" /> : null}
      {p.phase === "failed" && p.applied.length ? (
        <p>
          What was applied stays in the cluster. Install again once the cause is fixed (it applies the same objects), or
          remove them with kubectl delete -f deploy/install.yaml.
        </p>
      ) : null}
    </div>
  );
});
