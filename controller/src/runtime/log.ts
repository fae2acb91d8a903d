/**
 * Structured JSON logs, one object per line, keyed by the object being worked on. Messages and
 * fields are passed through a redactor so that secret material cannot reach the log by accident.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  with(fields: Record<string, unknown>): Logger;
}

export interface LogOptions {
  level: Level;
  write?: (line: string) => void;
  /** Applied to the serialized line. */
  redact?: (s: string) => string;
}

function errorFields(v: unknown): unknown {
  if (v instanceof Error) {
    const cause = (v as { cause?: unknown }).cause;
    return { message: v.message, ...(cause ? { cause: errorFields(cause) } : {}) };
  }
  return v;
}

/**
 * Redacts every string of a value before it is serialized: JSON escaping would glue `\n` to the
 * next word (`n<secret>`), which a redactor of the finished line no longer recognises.
 */
function redactValue(v: unknown, redact: (s: string) => string, depth = 0): unknown {
  if (typeof v === "string") return redact(v);
  if (depth > 8 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, redact, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactValue(x, redact, depth + 1)]));
}

/** A logger writing JSON lines to stderr (or `write`). */
export function makeLogger(opts: LogOptions, base: Record<string, unknown> = {}): Logger {
  const write = opts.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[opts.level]) return;
    let rec: Record<string, unknown> = { ts: new Date().toISOString(), level, msg, ...base };
    for (const [k, v] of Object.entries(fields ?? {})) rec[k] = errorFields(v);
    if (opts.redact) rec = redactValue(rec, opts.redact) as Record<string, unknown>;
    const line = JSON.stringify(rec);
    write(opts.redact ? opts.redact(line) : line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => makeLogger(opts, { ...base, ...fields }),
  };
}
