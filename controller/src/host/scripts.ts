/**
 * The shell programs that run on machines, kept as real files under `scripts/` (so editors,
 * `shellcheck` and `sh -n` see them as shell; `npm test` checks them) and filled in here.
 *
 * Template rules: a comment line (first non-blank character `#`, the `#!` line included) and a
 * blank line are dropped, so a script's comments never travel to machines; a word `__NAME`
 * (capitals and underscores) is a value filled in by `fill`; a line that holds nothing but
 * `__NAME` is replaced by a whole snippet (possibly none). Trailing comments on a code line are
 * not allowed (they would travel).
 *
 * How they reach the controller: the build (controller/scripts/build.ts) hands the files' text to
 * esbuild as the constant `__CAPI_REMOTE_HOST_SCRIPTS__` (`define`), so the bundle carries them
 * and reads no file at run time; under tsx (tests, `npm start`) they are read from disk once.
 */
import { readFileSync } from "node:fs";
import { shq } from "../cloudinit/plan.js";

declare const __CAPI_REMOTE_HOST_SCRIPTS__: Record<string, string> | undefined;

export const SCRIPT_NAMES = [
  "gate",
  "watchdog",
  "watchdog-start",
  "runner",
  "state-dir",
  "start",
  "start-and-follow",
  "watch",
  "preamble",
  "tail",
  "state-probe",
  "kill-run",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

const bundled: Record<string, string> | undefined =
  typeof __CAPI_REMOTE_HOST_SCRIPTS__ === "undefined" ? undefined : __CAPI_REMOTE_HOST_SCRIPTS__;

/** Where the script files live in the source tree. */
export const scriptPath = (name: ScriptName) => new URL(`./scripts/${name}.sh`, import.meta.url);

const cache = new Map<ScriptName, string[]>();

/** A script's code lines (comments and blank lines dropped). */
function codeLines(name: ScriptName): string[] {
  let lines = cache.get(name);
  if (!lines) {
    const text = bundled?.[name] ?? readFileSync(scriptPath(name), "utf8");
    lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
    cache.set(name, lines);
  }
  return lines;
}

/** A snippet inserted as it is (shell code rendered elsewhere), never quoted. */
export interface Raw {
  readonly raw: string;
}
export const raw = (code: string): Raw => ({ raw: code });

/**
 * A value: a string is one shell word (quoted), a number is written as it is (finite, no
 * exponent), a Raw is code.
 */
export type Value = string | number | Raw;

function text(name: string, key: string, v: Value): string {
  if (typeof v === "string") return shq(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0 || /e/i.test(String(v))) throw new Error(`${name}: ${key} is not a plain number`);
    return String(v);
  }
  return v.raw;
}

const WORD = /__[A-Z](?:[A-Z0-9_]*[A-Z0-9])?/g;

/**
 * The script `name` with its `__NAME` words filled in. Every word of the script must have a
 * value and every value must be used: a typo fails at once instead of reaching a machine.
 */
export function fill(name: ScriptName, vars: Record<string, Value> = {}): string {
  const used = new Set<string>();
  const get = (key: string): Value => {
    const v = vars[key.slice(2)];
    if (v === undefined) throw new Error(`${name}.sh: no value for ${key}`);
    used.add(key.slice(2));
    return v;
  };
  const out: string[] = [];
  for (const line of codeLines(name)) {
    const whole = /^\s*(__[A-Z](?:[A-Z0-9_]*[A-Z0-9])?)\s*$/.exec(line);
    if (whole) {
      const v = get(whole[1] as string);
      const t = text(name, whole[1] as string, v);
      if (t !== "") out.push(t);
      continue;
    }
    out.push(line.replace(WORD, (k) => text(name, k, get(k))));
  }
  for (const k of Object.keys(vars)) if (!used.has(k)) throw new Error(`${name}.sh: ${k} is not used`);
  return out.join("\n");
}

/** The scripts' text by name, for the build's `define`. */
export function scriptSources(): Record<string, string> {
  return Object.fromEntries(SCRIPT_NAMES.map((n) => [n, readFileSync(scriptPath(n), "utf8")]));
}
