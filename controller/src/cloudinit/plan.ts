/**
 * Turns bootstrap data (a Cluster API bootstrap Secret's `value` and `format`) into an execution
 * plan, in cloud-init's order: bootcmd, write_files, deferred write_files, runcmd. Pure: no I/O,
 * and every failure is a BootstrapDataError with a reason and a message free of the data itself
 * (it holds join tokens).
 */
import { parseDocument } from "yaml";
import { BOOTSTRAP_LIMITS, checkCount, checkDataSize, checkYamlTokens, DecodeBudget, LimitError } from "./limits.js";

export type StepKind = "command" | "file" | "script";

export interface CommandStep {
  kind: "command";
  name: string;
  /** Run through `sh -c` (string entries) ... */
  shell?: string;
  /** ... or exec'd as argv (list entries). */
  argv?: string[];
}

export interface FileStep {
  kind: "file";
  name: string;
  path: string;
  /** File content, base64 (binary-safe). */
  contentB64: string;
  permissions: string;
  owner: string;
  append: boolean;
}

/** A whole script run as one step (a `#!` payload, or runcmd under commandsAsScript). */
export interface ScriptStep {
  kind: "script";
  name: string;
  body: string;
}

export type Step = CommandStep | FileStep | ScriptStep;

export interface Plan {
  steps: Step[];
  /** cloud-config keys present but not carried out (packages, users, ...), for an Event. */
  ignoredKeys: string[];
}

export const BootstrapErrorReason = {
  UnsupportedFormat: "UnsupportedBootstrapFormat",
  Invalid: "InvalidBootstrapData",
} as const;

/** Bad bootstrap data. `message` never quotes the data. */
export class BootstrapDataError extends Error {
  constructor(
    readonly reason: (typeof BootstrapErrorReason)[keyof typeof BootstrapErrorReason],
    message: string,
  ) {
    super(message);
    this.name = "BootstrapDataError";
  }
}

export interface PlanOptions {
  /** k0smotron's commandsAsScript: runcmd entries run as one script instead of one by one. */
  commandsAsScript?: boolean;
  /** Values for the jinja expressions real bootstrap providers use. */
  hostname?: string;
}

const SUPPORTED_KEYS = new Set(["bootcmd", "write_files", "runcmd"]);
/** Keys that only describe the data itself, not work to do. */
const NEUTRAL_KEYS = new Set(["merge_how", "merge_type"]);

const invalid = (msg: string) => new BootstrapDataError(BootstrapErrorReason.Invalid, msg);

/**
 * Values of the cloud-init instance-data variables a `## template: jinja` payload may name, as
 * cloud-init defines them for a machine without a datasource (its DataSourceNone: instance id
 * `iid-datasource-none`, cloud and platform `none`, the hostname from the machine). `v1.*` keys
 * are also top-level names (cloud-init copies them up); `ds.meta_data.*` is the datasource's
 * metadata, where kubeadm's bootstrap output reads the hostname (`local_hostname` is the alias
 * of `local-hostname`).
 */
function jinjaVariables(opts: PlanOptions): Map<string, string | undefined> {
  const hostname = opts.hostname;
  const v1: Record<string, string | undefined> = {
    local_hostname: hostname,
    instance_id: "iid-datasource-none",
    cloud_name: "none",
    cloud_id: "none",
    platform: "none",
  };
  const vars = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(v1)) {
    vars.set(`v1.${k}`, v);
    vars.set(k, v);
  }
  vars.set("v1.hostname", hostname);
  vars.set("hostname", hostname);
  for (const k of ["hostname", "local_hostname", "local-hostname"]) vars.set(`ds.meta_data.${k}`, hostname);
  vars.set("ds.meta_data.instance_id", "iid-datasource-none");
  return vars;
}

/** A jinja variable reference: names (cloud-init's aliases have `_`, its keys may have `-`) joined by dots. */
const JINJA_VARIABLE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

/**
 * Renders a `## template: jinja` payload's variable expressions as cloud-init would for the
 * variables it defines (jinjaVariables). Anything in `{{ }}` that is not a jinja variable
 * reference (a Helm or Go template such as `{{ .Values.image }}` inside a file k0s reads, which
 * k0smotron's bootstrap always marks with the jinja header) is left as written, as k0smotron's
 * provider runs it; so are `{% %}` statements and `{# #}` comments. A variable cloud-init would
 * not know here is refused by name (cloud-init would put `CI_MISSING_JINJA_VAR/<name>` into the
 * command or file and carry on).
 */
function renderJinja(text: string, opts: PlanOptions): string {
  const vars = jinjaVariables(opts);
  return text.replace(/\{\{([^{}]*)\}\}/g, (whole, inner: string) => {
    const expr = inner.trim();
    if (!JINJA_VARIABLE.test(expr)) return whole;
    if (!vars.has(expr))
      throw invalid(
        `the jinja template names {{ ${expr.slice(0, 64)} }}, which cloud-init does not define for a remote machine (known: v1.local_hostname, ds.meta_data.hostname, instance_id, ...)`,
      );
    const value = vars.get(expr);
    if (value === undefined) throw invalid(`template needs the machine's hostname (${expr}) and none is known`);
    return value;
  });
}

/**
 * The key a YAML duplicate-key error points at (its offset is the second occurrence), if it is
 * a plain name: key names are cloud-config structure, never data, but only short plain ones are
 * quoted back.
 */
function duplicateKeyName(text: string, offset: number): string | undefined {
  const m = /^["']?([A-Za-z0-9_./-]{1,64})["']?[ \t]*:/.exec(text.slice(offset, offset + 80));
  return m?.[1];
}

function decodeContent(content: unknown, encoding: unknown, where: string, budget: DecodeBudget): Buffer {
  const out = decodeWithin(content, encoding, where, budget);
  if (!isGzip(encoding)) budget.take(out.length, where);
  return out;
}

const isGzip = (encoding: unknown) => typeof encoding === "string" && /^gz(ip)?(\+b(ase)?64)?$/i.test(encoding);

function decodeWithin(content: unknown, encoding: unknown, where: string, budget: DecodeBudget): Buffer {
  if (content === undefined || content === null) return Buffer.alloc(0);
  if (typeof content !== "string") throw invalid(`${where}.content must be a string`);
  const enc = typeof encoding === "string" ? encoding.toLowerCase() : "text/plain";
  const b64 = (s: string) => {
    const clean = s.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw invalid(`${where}.content is not valid base64`);
    return Buffer.from(clean, "base64");
  };
  const gunzip = (b: Buffer) => {
    const out = budget.gunzip(b, where);
    if (!out) throw invalid(`${where}.content is not valid gzip data`);
    return out;
  };
  switch (enc) {
    case "text/plain":
    case "":
      return Buffer.from(content, "utf8");
    case "b64":
    case "base64":
      return b64(content);
    case "gz":
    case "gzip":
      // YAML cannot carry raw gzip bytes losslessly; cloud-init accepts them as latin1 text.
      return gunzip(Buffer.from(content, "latin1"));
    case "gz+base64":
    case "gzip+base64":
    case "gz+b64":
    case "gzip+b64":
      return gunzip(b64(content));
    default:
      throw invalid(`${where}.encoding "${String(encoding).slice(0, 40)}" is not one cloud-init knows`);
  }
}

function permissionsOf(p: unknown, where: string): string {
  if (p === undefined || p === null) return "0644";
  // YAML 1.1 readers turn 0644 into a number; accept both spellings.
  const text = typeof p === "number" ? `0${p.toString(8)}` : String(p);
  if (!/^0?[0-7]{3,4}$/.test(text)) throw invalid(`${where}.permissions must be octal like "0644"`);
  return text.length === 3 ? `0${text}` : text;
}

/**
 * A shell drops NUL bytes from a command silently (`printf 'a\0b'` writes `ab`), so a command
 * with one would run as something else than written: refused by name.
 */
function noNul(text: string, where: string): string {
  if (text.includes("\0")) throw invalid(`${where} has a NUL byte, which no shell command can carry`);
  return text;
}

function commandSteps(list: unknown, key: string): CommandStep[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalid(`${key} must be a list`);
  return list.map((entry, i): CommandStep => {
    const name = `${key}[${i}]`;
    if (typeof entry === "string") return { kind: "command", name, shell: noNul(entry, name) };
    if (
      Array.isArray(entry) &&
      entry.length > 0 &&
      entry.every((a) => typeof a === "string" || typeof a === "number")
    ) {
      return { kind: "command", name, argv: entry.map((a, j) => noNul(String(a), `${name}[${j}]`)) };
    }
    throw invalid(`${name} must be a string or a list of strings`);
  });
}

function fileSteps(list: unknown, budget: DecodeBudget): { now: FileStep[]; deferred: FileStep[] } {
  const now: FileStep[] = [];
  const deferred: FileStep[] = [];
  if (list === undefined || list === null) return { now, deferred };
  if (!Array.isArray(list)) throw invalid("write_files must be a list");
  list.forEach((f, i) => {
    const where = `write_files[${i}]`;
    if (!f || typeof f !== "object" || Array.isArray(f)) throw invalid(`${where} must be a mapping`);
    const e = f as Record<string, unknown>;
    if (typeof e.path !== "string" || !e.path.startsWith("/")) throw invalid(`${where}.path must be an absolute path`);
    if (e.path.includes("\0") || e.path.includes("\n")) throw invalid(`${where}.path has a control character`);
    const step: FileStep = {
      kind: "file",
      name: `${where} ${e.path}`,
      path: e.path,
      contentB64: decodeContent(e.content, e.encoding, where, budget).toString("base64"),
      permissions: permissionsOf(e.permissions, where),
      owner: e.owner === undefined ? "root:root" : String(e.owner),
      append: e.append === true || e.append === "true",
    };
    if (!/^[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$/.test(step.owner))
      throw invalid(`${where}.owner must be user or user:group`);
    (e.defer === true || e.defer === "true" ? deferred : now).push(step);
  });
  return { now, deferred };
}

/**
 * The execution plan for a bootstrap Secret's data. Throws BootstrapDataError only: a broken
 * limit (BOOTSTRAP_LIMITS) or anything unforeseen is InvalidBootstrapData, terminal, never a
 * retry.
 */
export function planBootstrap(value: string, format: string | undefined, opts: PlanOptions = {}): Plan {
  try {
    checkDataSize(value);
    return planWithin(value, format, opts);
  } catch (e) {
    if (e instanceof BootstrapDataError) throw e;
    if (e instanceof LimitError) throw invalid(e.message);
    // Never the error's own text: it may quote the data.
    throw invalid(`bootstrap data could not be planned (${e instanceof Error ? e.name : "error"})`);
  }
}

/** Counts checked before any step is built. */
function checkCounts(cfg: Record<string, unknown>): void {
  checkCount(cfg.write_files, "write_files", BOOTSTRAP_LIMITS.writeFiles);
  checkCount(cfg.bootcmd, "bootcmd", BOOTSTRAP_LIMITS.commands);
  checkCount(cfg.runcmd, "runcmd", BOOTSTRAP_LIMITS.commands);
}

function planWithin(value: string, format: string | undefined, opts: PlanOptions): Plan {
  const fmt = (format ?? "cloud-config").trim() || "cloud-config";
  if (fmt !== "cloud-config") {
    throw new BootstrapDataError(
      BootstrapErrorReason.UnsupportedFormat,
      fmt === "ignition"
        ? "bootstrap format ignition is not supported: capi-remote runs cloud-config over SSH"
        : `bootstrap format "${fmt.slice(0, 40)}" is not supported (cloud-config is)`,
    );
  }
  let text = value.replace(/^\uFEFF/, "");
  if (/^## template: *jinja[^\n]*\n/.test(text)) text = renderJinja(text.replace(/^[^\n]*\n/, ""), opts);
  if (text.startsWith("#!"))
    return {
      steps: [{ kind: "script", name: "user-data script", body: noNul(text, "the user-data script") }],
      ignoredKeys: [],
    };
  if (!/^#cloud-config\b/.test(text) && text.trim() !== "") {
    throw invalid("bootstrap data is neither #cloud-config nor a #! script");
  }
  try {
    checkYamlTokens(text);
  } catch (e) {
    if (e instanceof LimitError) throw invalid(e.message);
    throw e;
  }
  let doc: unknown;
  try {
    // Keys must be unique: with duplicates, YAML readers disagree (cloud-init's keeps the last, a
    // Go one refuses), and keeping one silently drops the other's work (k0smotron's bootstrap
    // appends customUserData to its own document, so a custom runcmd would replace k0s's).
    const parsed = parseDocument(text, { schema: "yaml-1.1", strict: false, uniqueKeys: true });
    const dup = parsed.errors.find((e) => e.code === "DUPLICATE_KEY");
    if (dup) {
      const key = duplicateKeyName(text, dup.pos[0]);
      const line = dup.linePos?.[0]?.line;
      throw invalid(
        `the cloud-config has the key ${key ? `"${key}"` : "at this place"} more than once${line ? ` (again at line ${line})` : ""}; merge its entries into one`,
      );
    }
    if (parsed.errors.length > 0) throw parsed.errors[0];
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof BootstrapDataError) throw e;
    // The YAML error text quotes the offending line, which may hold a token: keep only its position.
    const pos = (e as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw invalid(`bootstrap data is not valid YAML${pos ? ` (line ${pos})` : ""}`);
  }
  if (doc === null || doc === undefined) return { steps: [], ignoredKeys: [] };
  if (typeof doc !== "object" || Array.isArray(doc)) throw invalid("cloud-config must be a mapping");
  const cfg = doc as Record<string, unknown>;
  checkCounts(cfg);
  const files = fileSteps(cfg.write_files, new DecodeBudget());
  const runcmd = commandSteps(cfg.runcmd, "runcmd");
  const run: Step[] =
    opts.commandsAsScript && runcmd.length > 0
      ? [{ kind: "script", name: "runcmd (as one script)", body: runcmdScript(runcmd) }]
      : runcmd;
  return {
    steps: [...commandSteps(cfg.bootcmd, "bootcmd"), ...files.now, ...files.deferred, ...run],
    ignoredKeys: Object.keys(cfg).filter((k) => !SUPPORTED_KEYS.has(k) && !NEUTRAL_KEYS.has(k)),
  };
}

/** Shell-quotes one word. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

function runcmdScript(cmds: CommandStep[]): string {
  const lines = cmds.map((c) => (c.argv ? c.argv.map(shq).join(" ") : (c.shell ?? "")));
  return `#!/bin/sh\nset -e\n${lines.join("\n")}\n`;
}
