// @ts-nocheck: compiled by Freelens's own ts-jest inside its source tree, where our tsconfig does not reach
/**
 * Starts Freelens 1.9.0's renderer (its DI application builder: real DI container, cluster frame,
 * sidebar, routes, details drawer, KubeObjectMenu, ConfirmDialog, Notifications and the real
 * `Renderer.*` extension API) with its HTTP requests sent to a real kube-apiserver, and loads our
 * packed extension the way Freelens's extension loader does: `require(<dir>/<manifest.renderer>)
 * .default`, `new Class(installedExtension)`, `activate()`, register, `enable()`.
 *
 * Every test file mocks "@freelensapp/legacy-global-di" and "../test-utils/use-fake-time" with the
 * *.mock.ts files here (jest applies the mocks a test file declares, not this module's).
 *
 * Inputs come from the environment (set by test/freelens/realhost.test.ts):
 *   CAPI_REALHOST_API   JSON {server, token, caPEM}: the API server and whom to act as (a test
 *                       file may name another variable in startHost, e.g. a limited user's)
 *   CAPI_REALHOST_ADMIN the same for the admin, to check what actions did
 *   CAPI_REALHOST_EXT   the unpacked extension tarball (its package.json and dist/)
 *
 * Every test file also replaces Freelens's jest mock of react-virtualized-auto-sizer (a fixed
 * 420,000 px, so a virtual list renders every row) by the real one; `windowOf` below gives it
 * what a window of window.json's size gives it in a browser. And Freelens's jest mock of
 * `withTooltip` (every tooltip's text written into the DOM beside its target, so a drawer read
 * the namespace twice: Lens's meta block shows it as a badge whose tooltip is itself) by the real
 * one, which renders a tooltip only while the pointer is on its target.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRandomIdInjectionToken } from "@freelensapp/random";
import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import * as Mobx from "mobx";
import * as MobxReact from "mobx-react";
import * as React from "react";
import * as ReactDOM from "react-dom";
import nodeFetchInjectable from "../common/fetch/node-fetch.injectable";
import * as Common from "../extensions/common-api";
import extensionInjectable from "../extensions/extension-loader/extension/extension.injectable";
import * as Renderer from "../extensions/renderer-api";
import {
  getApplicationBuilder,
  rendererExtensionsStateInjectable,
} from "../renderer/components/test-utils/get-application-builder";

interface ApiTarget {
  server: string;
  token: string;
  caPEM: string;
}
const target = (variable: string): ApiTarget => {
  const raw = process.env[variable];
  if (!raw) throw new Error(`${variable} is not set`);
  return JSON.parse(raw) as ApiTarget;
};
export const extDir = process.env.CAPI_REALHOST_EXT ?? "";
const manifest = JSON.parse(readFileSync(join(extDir, "package.json"), "utf8"));

/** Every request the renderer made, as "METHOD path", for assertions and failure messages. */
export const requests: string[] = [];
/** What watches delivered (for failure messages). */
export const watchLines: string[] = [];

/** The renderer's fetch, sent to the real API server (the `/api-kube` prefix is the Lens proxy's). */
function realFetch(api: ApiTarget) {
  const nodeFetch = jest.requireActual("@freelensapp/node-fetch").default;
  const agent = new Agent({ ca: api.caPEM, keepAlive: true });
  return async (url, init = {}) => {
    const u = new URL(typeof url === "string" ? url : url.url);
    const path = u.pathname.replace(/^\/api-kube/, "") + u.search;
    requests.push(`${init.method ?? "GET"} ${path}`);
    const headers = { ...(init.headers ?? {}) };
    delete headers.Host;
    delete headers.host;
    const res = await nodeFetch(`${api.server}${path}`, {
      ...init,
      agent,
      headers: { ...headers, authorization: `Bearer ${api.token}` },
    });
    if (/[?&]watch=/.test(path))
      res.body.on("data", (d) => watchLines.push(`${path.split("?")[0]}: ${String(d).slice(0, 120)}`));
    return res;
  };
}

/** The window the host runs in (see windowOf). */
export const WINDOW: {
  width: number;
  height: number;
  listWidth: number;
  listHeight: number;
} = require("./window.json");

/**
 * What a browser window of WINDOW's size gives the layout code that Freelens's lists read, which
 * jsdom (no layout) does not: the window's inner size, a ResizeObserver (Chromium has one, so
 * AutoSizer observes its parent instead of planting its scroll-trigger elements), and the box of
 * a virtual list (`.VirtualList`, the parent AutoSizer measures with getBoundingClientRect). That
 * box is the one Chromium lays out for Freelens's list layout in a 1280x800 window with
 * Freelens's own CSS (measured over the Machines page's markup: 576 px tall; the screenshot test
 * measures it again and fails if it drifts), so a list shows the rows such a window shows (18 of
 * 32 px, plus the overscan) instead of all of them.
 */
function windowOf(w: typeof WINDOW) {
  Object.defineProperty(window, "innerWidth", { configurable: true, value: w.width });
  Object.defineProperty(window, "innerHeight", { configurable: true, value: w.height });
  // The window is never resized while the tests run, so nothing is ever reported.
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
  const rect = HTMLElement.prototype.getBoundingClientRect;
  HTMLElement.prototype.getBoundingClientRect = function (this: HTMLElement) {
    if (!this.classList.contains("VirtualList")) return rect.call(this);
    const [width, height] = [w.listWidth, w.listHeight];
    return { x: 0, y: 0, top: 0, left: 0, width, height, right: width, bottom: height, toJSON: () => ({}) };
  };
}

/**
 * jsdom's CSS parser (cssstyle 2) drops an inline style whose value uses var() (React sets
 * `style.color = "var(--colorOk, #4caf50)"`, and the property is simply not set), where a browser
 * keeps it and resolves it against the theme's variables. Such values are kept as written, as a
 * browser keeps them, so the markup the screenshots are made of carries them.
 */
function keepVarStyles() {
  const proto = Object.getPrototypeOf(document.createElement("div").style);
  if (proto.__capiVarStyles) return;
  proto.__capiVarStyles = true;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (!d?.set || !/^[a-z]/.test(name) || ["cssText", "length", "parentRule"].includes(name)) continue;
    const dashed = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^css-float$/, "float");
    Object.defineProperty(proto, name, {
      ...d,
      set(value) {
        if (typeof value === "string" && value.includes("var(")) this._setProperty(dashed, value);
        else d.set.call(this, value);
      },
    });
  }
}

export interface Host {
  builder: ReturnType<typeof getApplicationBuilder>;
  windowDi: unknown;
  extension: { navigate(pageId: string): Promise<void> };
  rendered: ReturnType<typeof screen>;
}

/**
 * Starts the host in a cluster frame, with `namespaces` in its namespace list (all selected),
 * acting as the user in the environment variable `as`.
 */
export async function startHost(namespaces: string[], as = "CAPI_REALHOST_API"): Promise<Host> {
  const api = target(as);
  // Electron's renderer has a global Response; jsdom under jest has none, and the store's watch
  // callback tests `error instanceof Response` on every event, so each event threw a
  // ReferenceError that the watch's line reader swallows: lists never followed the API server.
  // The renderer's requests go through node-fetch, so its Response is the class to test against.
  globalThis.Response ??= jest.requireActual("@freelensapp/node-fetch").Response;
  windowOf(WINDOW);
  keepVarStyles();
  // What freelens/src/renderer/index.ts puts on the window for extensions.
  Object.assign(globalThis, { LensExtensions: { Renderer, Common }, React, ReactDOM, Mobx, MobxReact });
  const builder = getApplicationBuilder().setEnvironmentToClusterFrame();
  let windowDi: unknown;
  let instance: Host["extension"] & { id: string; activate(): Promise<void>; enable(): Promise<void> };
  builder.beforeWindowStart(({ windowDi: di }) => {
    windowDi = di;
    di.override(nodeFetchInjectable, () => realFetch(api));
    // The harness fixes random ids to one value, which would merge our detail and menu items.
    let n = 0;
    di.override(getRandomIdInjectionToken, () => () => `capi-remote-id-${++n}`);
  });
  builder.afterWindowStart(async ({ windowDi: di }) => {
    const installed = {
      id: join(extDir, "package.json"),
      absolutePath: extDir,
      manifestPath: join(extDir, "package.json"),
      manifest,
      isBundled: false,
      isEnabled: true,
      isCompatible: true,
    };
    const Class = require(join(extDir, manifest.renderer)).default;
    instance = new Class(installed);
    await instance.activate();
    Mobx.runInAction(() => {
      di.inject(extensionInjectable, instance).register();
      di.inject(rendererExtensionsStateInjectable).set(instance.id, instance);
    });
    await instance.enable();
  });
  for (const ns of namespaces) builder.namespaces.add(ns);
  await builder.render();
  for (const ns of namespaces) builder.namespaces.select(ns);
  return { builder, windowDi, extension: instance, rendered: screen };
}

/** Waits (real time) until `fn` passes; the failure names what was last seen. */
export async function until<T>(fn: () => T, what: string, timeout = 30_000): Promise<T> {
  let out: T;
  await waitFor(
    () => {
      out = fn();
    },
    {
      timeout,
      interval: 100,
      onTimeout: (e) => {
        // The page as it was, for the person reading the failure.
        const dump = join(process.env.CAPI_REALHOST_DUMPS ?? tmpdir(), `${what.replace(/\W+/g, "-")}.html`);
        writeFileSync(dump, document.body.innerHTML);
        return new Error(
          `${what}: ${e.message.slice(0, 1500)}\nDOM in ${dump}\nrequests: ${requests.slice(-15).join("\n")}\nwatch data: ${watchLines.slice(-10).join("\n")}`,
        );
      },
    },
  );
  return out;
}

/** Polls an async check (real time) until it passes; testing-library's waitFor gives up on the first rejection. */
export async function eventually(fn: () => Promise<void>, what: string, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw new Error(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export const body = () => document.body;
export const text = (el: Element | null | undefined) => el?.textContent ?? "";
export const $ = (sel: string, root: ParentNode = body()) => root.querySelector(sel);
export const $$ = (sel: string, root: ParentNode = body()) => [...root.querySelectorAll(sel)];

/** The ConfirmDialog on screen (not one still leaving from an earlier confirmation). */
export const confirmDialog = () =>
  until(() => {
    const d = $$(".ConfirmDialog").find((x) => !x.closest(".leave"));
    if (!d) throw new Error("no confirm dialog");
    return d;
  }, "confirm dialog");

/** The text of the notification that matches `re`, once it is shown. */
export const notification = (re: RegExp) =>
  until(() => {
    const shown = $$(".notification").map(text);
    const n = shown.find((t) => re.test(t));
    if (!n) throw new Error(`no notification matching ${re}; shown: ${shown.join(" | ")}`);
    return n;
  }, `notification ${re}`);

/** Clicks an element inside act(), as a person would. */
export async function click(el: Element) {
  await act(async () => {
    fireEvent.click(el);
  });
}

/** A request to the real API server as the admin: to check what an action did, or to change something from outside. */
export async function adminRequest(method: string, path: string, body?: unknown, contentType = "application/json") {
  const admin = target("CAPI_REALHOST_ADMIN");
  const nodeFetch = jest.requireActual("@freelensapp/node-fetch").default;
  const res = await nodeFetch(`${admin.server}${path}`, {
    method,
    agent: new Agent({ ca: admin.caPEM }),
    headers: { authorization: `Bearer ${admin.token}`, ...(body === undefined ? {} : { "content-type": contentType }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (method !== "GET" && res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A GET as the admin. */
export const apiGetJson = (path: string) => adminRequest("GET", path);

/** A merge patch as the admin (an outside change the pages must follow by watch). */
export const apiMergePatch = (path: string, patch: unknown) =>
  adminRequest("PATCH", path, patch, "application/merge-patch+json");

/**
 * Keeps the page as it is now (the body's markup) for a screenshot: test/freelens/realhost.test.ts
 * later renders each kept page with Freelens's own CSS in Chromium. Only when CAPI_REALHOST_SHOTS
 * names a folder.
 */
export function keep(name: string) {
  const dir = process.env.CAPI_REALHOST_SHOTS;
  if (!dir) return;
  writeFileSync(join(dir, `${name}.html`), document.body.outerHTML);
}
