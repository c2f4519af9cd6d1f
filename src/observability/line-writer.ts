/**
 * Writes log lines in batches: lines go out together `flushAfterMs` after the first of them (or at once past
 * `maxBufferedBytes`). One write per request was ~5 % of the gateway's CPU under load (a synchronous syscall each
 * when stdout is a file); batched, it is one per interval. Pending lines are written on process exit.
 */
export interface LineSink {
  write(chunk: string): unknown;
}

export class BatchedLineWriter {
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private scheduled = false;
  private readonly flushSoon = () => this.flush();

  constructor(
    private readonly sink: LineSink,
    private readonly maxBufferedBytes = 64 * 1024,
    private readonly flushAfterMs = 20,
  ) {}

  /** Queues one line (without its newline). */
  writeLine(line: string): void {
    this.buffered.push(line);
    this.bufferedBytes += line.length + 1;
    if (this.bufferedBytes >= this.maxBufferedBytes) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.flushSoon, this.flushAfterMs).unref();
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.buffered.length === 0) return;
    const text = `${this.buffered.join('\n')}\n`;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.sink.write(text);
  }
}

let stdoutWriter: BatchedLineWriter | undefined;

/** The process's one batched writer to stdout, flushed on exit. */
export function stdoutLines(): BatchedLineWriter {
  if (!stdoutWriter) {
    const writer = new BatchedLineWriter(process.stdout);
    process.once('exit', () => writer.flush());
    stdoutWriter = writer;
  }
  return stdoutWriter;
}
