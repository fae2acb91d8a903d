/**
 * stdin for `ExecOptions.input` that is written later: chunks pushed before anyone reads are
 * kept; `end` closes stdin, `fail` closes the channel without the rest. (A dozen lines: no
 * library needed for a single-consumer queue.)
 */
export class InputFeed implements AsyncIterable<string> {
  private readonly chunks: string[] = [];
  private state: { ended: boolean; failed?: boolean; error?: unknown } = { ended: false };
  private wake?: () => void;

  push(chunk: string): void {
    if (this.state.ended) return;
    this.chunks.push(chunk);
    this.wake?.();
  }

  end(): void {
    this.state = { ...this.state, ended: true };
    this.wake?.();
  }

  fail(error: unknown): void {
    if (this.state.ended) return;
    this.state = { ended: true, failed: true, error };
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const next = this.chunks.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.state.failed) throw this.state.error;
      if (this.state.ended) return;
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }
}
