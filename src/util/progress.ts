/**
 * A progress bar with rate and ETA. Writes to a stream (stderr by default) so that stdout
 * stays clean for `--json`. When the stream is not a TTY it prints a plain line at most every
 * few seconds instead of redrawing; `silent` turns it off.
 */
export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: ProgressSink | null;
  silent?: boolean;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(r).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** What a progress bar reports to an observer (e.g. the reproduce scheduler). */
export interface ProgressEvent {
  label: string;
  done: number;
  total: number;
  extra: string;
}

let observer: ((e: ProgressEvent) => void) | null = null;
let observeEveryMs = 1000;

/**
 * Send every bar's state (silent ones included) to `fn`, at most once per `intervalMs` (default
 * a second) per bar. The reproduce scheduler uses this to show one bar per running stage, from
 * any worker thread; the browser lab uses it (interval 0: every step) for its progress bar.
 */
export function observeProgress(fn: ((e: ProgressEvent) => void) | null, intervalMs = 1000): void {
  observer = fn;
  observeEveryMs = intervalMs;
}

export class Progress {
  private lastObserved = 0;
  private done = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private extra = '';
  private readonly stream: ProgressSink | null;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.silent ? null : (opts.stream ?? defaultStream());
  }

  tick(n = 1, extra?: string): void {
    this.done += n;
    if (extra !== undefined) this.extra = extra;
    this.draw(false);
  }

  /** Set the absolute count (for byte counters and the like). */
  set(done: number, extra?: string): void {
    this.tick(done - this.done, extra);
  }

  /** Set an info string (e.g. "loss 0.31") shown after the bar. */
  info(extra: string): void {
    this.extra = extra;
    this.draw(false);
  }

  finish(extra?: string): void {
    if (extra !== undefined) this.extra = extra;
    this.draw(true);
    if (this.stream?.isTTY) this.stream.write('\n');
  }

  line(): string {
    return progressLine(
      this.opts.label,
      this.done,
      this.opts.total,
      this.start,
      this.extra,
      this.opts.unit,
    );
  }
  private draw(final: boolean): void {
    const now = Date.now();
    if (observer && (final || now - this.lastObserved >= observeEveryMs)) {
      this.lastObserved = now;
      observer({
        label: this.opts.label,
        done: this.done,
        total: this.opts.total,
        extra: this.extra,
      });
    }
    const s = this.stream;
    if (!s) return;
    if (s.isTTY) {
      if (!final && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const cols = terminalColumns(s.columns);
      s.write(
        '\r' +
          this.line()
            .slice(0, cols - 1)
            .padEnd(cols - 1),
      );
    } else {
      if (!final && now - this.lastDraw < 5000) return;
      this.lastDraw = now;
      s.write(this.line() + '\n');
    }
  }
}

/** Usable width of a terminal: unknown, 0 or absurdly narrow widths count as 80 columns. */
export function terminalColumns(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns >= 20 ? columns : 80;
}

function defaultStream(): ProgressSink | null {
  const g = globalThis as { process?: { stderr?: ProgressSink } };
  return g.process?.stderr ?? null;
}

/** One bar line: label, bar, count, percent, rate, elapsed, ETA and an info string. */
export function progressLine(
  label: string,
  done: number,
  total: number,
  start: number,
  extra = '',
  unit = 'it',
): string {
  const elapsed = (Date.now() - start) / 1000;
  const rate = elapsed > 0 ? done / elapsed : 0;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const width = 24;
  const filled = Math.round(frac * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const rateStr = rate >= 10 ? rate.toFixed(0) : rate >= 1 ? rate.toFixed(1) : rate.toFixed(2);
  return (
    `${label} ${bar} ${done}/${total} ${(frac * 100).toFixed(0)}% ` +
    `${rateStr} ${unit}/s elapsed ${formatDuration(elapsed)} eta ${formatDuration(eta)}` +
    (extra ? ` ${extra}` : '')
  );
}
