/**
 * Bounds on bootstrap data: what one machine's data may cost the controller, whoever wrote it
 * (a bootstrap provider copies tenant fields such as KubeadmConfig.spec.files verbatim). The data
 * is at most a Secret (1 MiB), but encodings multiply it (gzip: 1000:1 and more) and each step
 * costs copies in the runner, so counts and decoded sizes are capped before anything is built;
 * going over is a terminal InvalidBootstrapData naming the field and the limit.
 */
import { gunzipSync } from "node:zlib";
import { Lexer } from "yaml";

export const BOOTSTRAP_LIMITS = {
  /** The data as read from the Secret (a Secret holds at most 1 MiB). */
  dataBytes: 1024 * 1024,
  /** Entries in write_files. */
  writeFiles: 1024,
  /** Entries in bootcmd and in runcmd, each. */
  commands: 1024,
  /** One file's content after decoding (base64, gzip). */
  fileBytes: 16 * 1024 * 1024,
  /** All files' content after decoding, together. */
  totalFileBytes: 16 * 1024 * 1024,
  /**
   * Tokens of the YAML text (scalars, indicators, line breaks and indents, as yaml's Lexer yields
   * them), counted before the document is built: building costs ~5 times as much as lexing, and
   * 1 MiB of tiny entries takes seconds. The largest data the counts above admit (1,024 files
   * and 1,024 commands of seven words each) is about 60,000.
   */
  yamlTokens: 200_000,
} as const;

/** A limit broken; the planner turns it into its typed error. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LimitError";
  }
}

const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;

export function checkDataSize(value: string): void {
  const n = Buffer.byteLength(value, "utf8");
  if (n > BOOTSTRAP_LIMITS.dataBytes)
    throw new LimitError(`bootstrap data is ${n} bytes; at most ${BOOTSTRAP_LIMITS.dataBytes} are allowed`);
}

/** Counts yaml's tokens of `text`, stopping at the limit. */
export function checkYamlTokens(text: string): void {
  let n = 0;
  for (const _ of new Lexer().lex(text))
    if (++n > BOOTSTRAP_LIMITS.yamlTokens)
      throw new LimitError(
        `the cloud-config has more than ${BOOTSTRAP_LIMITS.yamlTokens} YAML tokens; at most ${BOOTSTRAP_LIMITS.yamlTokens} are allowed (write_files, bootcmd and runcmd take at most ${BOOTSTRAP_LIMITS.writeFiles} entries each)`,
      );
}

export function checkCount(list: unknown, field: string, max: number): void {
  if (Array.isArray(list) && list.length > max)
    throw new LimitError(`${field} has ${list.length} entries; at most ${max} are allowed`);
}

/** Keeps the running total of decoded file bytes of one plan. */
export class DecodeBudget {
  used = 0;

  /** Bytes the next file may decode to. */
  allowance(): number {
    return Math.min(BOOTSTRAP_LIMITS.fileBytes, BOOTSTRAP_LIMITS.totalFileBytes - this.used);
  }

  take(n: number, where: string): void {
    if (n > BOOTSTRAP_LIMITS.fileBytes)
      throw new LimitError(
        `${where}.content decodes to more than ${mib(BOOTSTRAP_LIMITS.fileBytes)}, the limit per file`,
      );
    this.used += n;
    if (this.used > BOOTSTRAP_LIMITS.totalFileBytes)
      throw new LimitError(
        `write_files decode to more than ${mib(BOOTSTRAP_LIMITS.totalFileBytes)} in all (over the limit at ${where})`,
      );
  }

  /**
   * Decompresses at most the allowance: zlib stops at maxOutputLength, so a bomb costs the
   * allowance and a few milliseconds, not its expanded size. Undefined for data that is not gzip.
   */
  gunzip(b: Buffer, where: string): Buffer | undefined {
    const max = this.allowance();
    try {
      const out = gunzipSync(b, { maxOutputLength: Math.max(max, 1) });
      this.take(out.length, where);
      return out;
    } catch (e) {
      if (e instanceof LimitError) throw e;
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)
        return this.overflow(where, max);
      return undefined;
    }
  }

  private overflow(where: string, max: number): never {
    if (max < BOOTSTRAP_LIMITS.fileBytes)
      throw new LimitError(
        `write_files decode to more than ${mib(BOOTSTRAP_LIMITS.totalFileBytes)} in all (over the limit at ${where})`,
      );
    throw new LimitError(
      `${where}.content decodes to more than ${mib(BOOTSTRAP_LIMITS.fileBytes)}, the limit per file`,
    );
  }
}
