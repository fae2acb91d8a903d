/**
 * Bounded buffers for what a host sends: a host may send anything, for as long as a session
 * lasts, so every buffer has a bound and the work per byte is constant.
 */

/** What the controller keeps of a command's output. */
export const OUTPUT_LIMITS = {
  /** stdout of a command whose output is used whole (probes, facts, the tail of a failed run). */
  stdoutBytes: 1024 * 1024,
  /** stderr: the last this many bytes are kept (it is only read for sudo's refusal). */
  stderrBytes: 64 * 1024,
  /** One line of a followed stream (progress, exit, started); protocol lines are short. */
  lineBytes: 64 * 1024,
} as const;

/** The last `max` bytes of a stream (all of it while it is shorter); `dropped` counts the rest. */
export class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;

  constructor(private readonly max: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.max) {
      const first = this.chunks[0] as Buffer;
      const over = this.size - this.max;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
        this.dropped += over;
      }
    }
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/**
 * Splits a byte stream into lines as it arrives: each byte is looked at once (only the new chunk
 * is searched for a newline), and a line longer than `max` bytes is refused (push returns false)
 * instead of being buffered.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialSize = 0;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Feeds a chunk; false when a line is over the limit (nothing more should be fed). */
  push(d: Buffer): boolean {
    let from = 0;
    for (;;) {
      const nl = d.indexOf(10, from);
      if (nl < 0) {
        const rest = d.length - from;
        if (this.partialSize + rest > this.max) return false;
        if (rest > 0) {
          this.partial.push(d.subarray(from));
          this.partialSize += rest;
        }
        return true;
      }
      if (this.partialSize + (nl - from) > this.max) return false;
      const piece = d.subarray(from, nl);
      const line = this.partialSize ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialSize = 0;
      this.onLine(line.toString("utf8"));
      from = nl + 1;
    }
  }

  /** The last line, when the stream ended without a newline. */
  end(): void {
    if (this.partialSize) this.onLine(Buffer.concat(this.partial).toString("utf8"));
    this.partial = [];
    this.partialSize = 0;
  }
}
