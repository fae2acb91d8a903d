/**
 * Screenshots of the real host's pages: the markup Freelens's renderer produced under jsdom (kept
 * by the jest suites with `keep(name)`), rendered in Chromium with Freelens 1.9.0's own CSS (its
 * published renderer.css and fonts, the UI components' CSS and its CSS modules compiled from the
 * prepared tree) and the lens-dark theme's colours as Freelens applies them (CSS variables on the
 * root element), in a viewport of the window the harness gives the host (window.json: 1280x800).
 * Approximate: Electron's window frame is absent, and jsdom laid nothing out (a virtual list's
 * height is the one the harness gives it, which `listBox` checks against Chromium's layout).
 */
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Page } from "playwright-core";

const run = promisify(execFile);

/** The window the harness gives the host, and the list box it gives Freelens's virtual lists. */
export const WINDOW = JSON.parse(
  readFileSync(new URL("../../extension/test/realhost/jest/window.json", import.meta.url), "utf8"),
) as { width: number; height: number; listWidth: number; listHeight: number };
const cache = () => process.env.CAPI_REMOTE_CACHE ?? join(homedir(), ".cache", "capi-remote");

/** renderer.css and fonts of @freelensapp/core 1.9.0 (published on npm), cached. */
async function freelensCss(): Promise<string> {
  const dir = join(cache(), "freelens-1.9.0-css");
  if (existsSync(join(dir, "renderer.css"))) return dir;
  const tmp = mkdtempSync(join(cache(), "freelens-css-"));
  try {
    const { stdout } = await run("npm", ["pack", "--silent", "@freelensapp/core@1.9.0"], { cwd: tmp });
    const tgz = join(tmp, stdout.trim().split("\n").pop() ?? "");
    await run("tar", [
      "xzf",
      tgz,
      "-C",
      tmp,
      "package/static/build/library/renderer.css",
      "package/static/build/library/fonts",
    ]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, "package/static/build/library"), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The lens-dark theme's colours, read from the Freelens source as CSS variables. */
function themeVariables(tree: string): string {
  const src = readFileSync(join(tree, "packages/core/src/renderer/themes/lens-dark.injectable.ts"), "utf8");
  const colours = src.slice(src.indexOf("colors: {"));
  return [...colours.matchAll(/^\s*([A-Za-z0-9]+): "([^"]+)",?$/gm)].map(([, k, v]) => `--${k}: ${v};`).join(" ");
}

/**
 * Freelens's CSS modules (the main layout, sidebar, badge, ...), compiled with the tree's own sass
 * and kept in the tree. Under jest their class names are the plain names (identity-obj-proxy),
 * and the published renderer.css has them hashed, so without these the frame's grid layout is
 * missing from the screenshots. Plain names collide where hashes do not: the hotbar's and the
 * catalog's `.badge` (absolutely placed, for the hotbar's icons) would move every Badge, so the
 * modules of the root frame's hotbar and catalog, which a cluster frame never shows, are left out.
 */
async function moduleCss(tree: string): Promise<string> {
  const file = join(tree, ".capi-remote-modules-cluster-frame.css");
  if (existsSync(file)) return file;
  const sassDir = readdirSync(join(tree, "node_modules/.pnpm")).find((d) => /^sass@\d/.test(d));
  if (!sassDir) throw new Error("no sass in Freelens's tree");
  const script = `
    const sass = require(${JSON.stringify(join(tree, "node_modules/.pnpm", sassDir, "node_modules/sass"))});
    const { execFileSync } = require("node:child_process");
    const files = execFileSync("find", ["src", "-name", "*.module.scss"]).toString().trim().split("\\n")
      .filter((f) => !/\\/(hotbar|catalog)\\//.test(f)).sort();
    const css = files.map((f) => sass.compile(f, { loadPaths: ["src", "node_modules"], quietDeps: true, logger: sass.Logger.silent }).css);
    require("node:fs").writeFileSync(${JSON.stringify(`${file}.tmp`)}, css.join("\\n"));`;
  await run(join(cache(), "freelens-tools/node/bin/node"), ["-e", script], { cwd: join(tree, "packages/core") });
  renameSync(`${file}.tmp`, file);
  return file;
}

/** The UI components' own CSS files in the prepared tree. */
function componentCss(tree: string): string[] {
  const base = join(tree, "packages/ui-components");
  return readdirSync(base)
    .map((d) => join(base, d, "dist/index.css"))
    .filter((f) => existsSync(f));
}

/** Renders every `<name>.html` in `from` to `<out>/<prefix><name>.png`; returns the names. */
export async function shoot(tree: string, from: string, out: string, prefix = "freelens-"): Promise<string[]> {
  const names = readdirSync(from)
    .filter((f) => f.endsWith(".html"))
    .map((f) => f.slice(0, -5))
    .sort();
  if (names.length === 0) return [];
  mkdirSync(out, { recursive: true });
  const css = await freelensCss();
  const links = [join(css, "renderer.css"), ...componentCss(tree), await moduleCss(tree)]
    .map((f) => `<link rel="stylesheet" href="file://${f}">`)
    .join("\n");
  const vars = themeVariables(tree);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: WINDOW.width, height: WINDOW.height } });
    for (const name of names) {
      const body = readFileSync(join(from, `${name}.html`), "utf8");
      const file = join(from, `${name}.page.html`);
      writeFileSync(
        file,
        `<!doctype html><html style="${vars}"><head><meta charset="utf-8">${links}` +
          `<style>html, body { height: 100%; margin: 0; background: var(--mainBackground); }` +
          // A closed drawer stays in jsdom's DOM as "leave" (its animation never ends there).
          ` .Animate.leave { display: none !important; }` +
          // The window's own height (the app root's ancestors have none outside Electron).
          ` .mainLayout { height: 100vh !important; }` +
          // The main layout's `.contents` (its own module's rule: overflow hidden) also gets, by
          // the plain class names, the tree view's `.contents` (folded to max-height 0, indented
          // 25 px) and the Helm preferences' (a flex row, which shrank the page to its content:
          // a list 762 px wide in a 1280 px window, its headers cut). In the app those are other
          // hashed classes.
          ` .mainLayout > .contents { max-height: none !important; padding-left: 0 !important;` +
          ` display: block !important; }</style></head>${body}</html>`,
      );
      await page.goto(`file://${file}`);
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path: join(out, `${prefix}${name}.png`), fullPage: true });
    }
  } finally {
    await browser.close();
  }
  return names;
}

/** Opens a page made by `shoot` (its `<name>.page.html` in `from`) in the harness's window. */
async function onPage<T>(from: string, name: string, look: (page: Page) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: WINDOW.width, height: WINDOW.height } });
    await page.goto(`file://${join(from, `${name}.page.html`)}`);
    await page.evaluate(() => document.fonts.ready);
    return await look(page);
  } finally {
    await browser.close();
  }
}

/**
 * The box Chromium gives the first virtual list (`.VirtualList`) of a page made by `shoot` in the
 * harness's window, with the list's own content not counted (its height is what the harness
 * set): what AutoSizer would measure in a real window.
 */
export function listBox(from: string, name: string): Promise<{ width: number; height: number }> {
  return onPage(from, name, async (page) => {
    await page.addStyleTag({ content: ".VirtualList > div, .VirtualList .list { height: 0 !important; }" });
    return page.evaluate(() => {
      const r = document.querySelector(".VirtualList")?.getBoundingClientRect();
      return { width: r?.width ?? 0, height: r?.height ?? 0 };
    });
  });
}

/** The text a person sees in the first element matching `sel` (its `innerText`: hidden parts left out). */
export function visibleText(from: string, name: string, sel: string): Promise<string> {
  return onPage(from, name, (page) =>
    page.evaluate(
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point (hidden parts left out)
      (sel) => (document.querySelector(sel) as HTMLElement | null)?.innerText ?? "",
      sel,
    ),
  );
}

/**
 * What a reader of a page made by `shoot` would find unreadable in its tables (each row matched
 * by `rows`, in the harness's window, with Freelens's CSS): a cell whose text is cut without an
 * ellipsis and a `title` saying it in full, and two neighbouring cells whose texts are less than
 * `gap` px apart (they read as one word: "ReplicasAvailable"). Each problem is one line.
 */
export function tableProblems(from: string, name: string, rows: string, gap = 8): Promise<string[]> {
  return onPage(from, name, (page) =>
    page.evaluate(
      ({ rows, gap }) => {
        const problems: string[] = [];
        const found = Array.from(document.querySelectorAll(rows));
        if (found.length === 0) return [`no rows match ${rows}`];
        for (const row of found) {
          // Each cell's text as laid out: from its first glyph to its last, cut at the cell's
          // content box when the text overflows it.
          const texts = Array.from(row.children).flatMap((c) => {
            const cell = c as HTMLElement;
            const text = cell.textContent?.trim() ?? "";
            if (!text) return [];
            const style = getComputedStyle(cell);
            const cut = cell.scrollWidth > cell.clientWidth;
            const ellipsis = style.textOverflow === "ellipsis" && style.overflowX === "hidden";
            if (cut && !(ellipsis && cell.title))
              problems.push(
                `"${text.slice(0, 40)}" is cut (${cell.scrollWidth} px in ${cell.clientWidth}) without an ellipsis and a title`,
              );
            const range = document.createRange();
            range.selectNodeContents(cell);
            const r = range.getBoundingClientRect();
            const box = cell.getBoundingClientRect();
            const right = Math.min(r.right, box.right - Number.parseFloat(style.paddingRight));
            return [{ text, left: r.left, right }];
          });
          for (let i = 1; i < texts.length; i++) {
            const a = texts[i - 1] as { text: string; right: number };
            const b = texts[i] as { text: string; left: number };
            if (b.left - a.right < gap)
              problems.push(
                `"${a.text.slice(0, 40)}" and "${b.text.slice(0, 40)}" are ${(b.left - a.right).toFixed(0)} px apart`,
              );
          }
        }
        return problems;
      },
      { rows, gap },
    ),
  );
}
