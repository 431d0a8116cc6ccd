/**
 * Runs a stage graph: stages whose key is already on disk are skipped; the others run as soon
 * as their dependencies are done, in up to `workers` worker threads (wasm is one core per
 * instance, so parallel stages need separate threads). Progress shows the graph: done /
 * running / waiting and the stages now running.
 */
import { Worker } from 'node:worker_threads';
import { RobustlabError } from '../data/errors.js';
import {
  formatDuration,
  observeProgress,
  progressLine,
  type ProgressEvent,
  terminalColumns,
} from '../util/progress.js';
import { criticalPathPriority, runStage, type RunContext, type Stage } from './stages.js';
import { stageStatus } from './stage-record.js';
import type { QueueRunOptions, QueueRunStats } from './queue-executor.js';

export interface ExecuteOptions {
  workers: number;
  backend?: string;
  ctx: RunContext;
  force?: string[];
  log?: (line: string) => void;
  /** Redraw one bar per running stage in place (a terminal); else bars go in the periodic log. */
  live?: boolean;
  /** Run the stages as jobs on a BullMQ queue (`robustlab worker`s) instead of local threads. */
  queue?: QueueRunOptions;
  /** After each stage this run computed: how many it has computed and how many it reused. */
  onStageDone?: (progress: { computed: number; reused: number }) => void;
}

/** The latest bar of every running stage; on a terminal, redrawn in place below the log. */
class StageBars {
  private readonly bars = new Map<string, { e: ProgressEvent | null; start: number }>();
  private drawn = 0;

  constructor(
    private readonly live: boolean,
    private readonly write: (s: string) => void,
  ) {}

  start(name: string): void {
    this.bars.set(name, { e: null, start: Date.now() });
  }

  update(name: string, e: ProgressEvent): void {
    const b = this.bars.get(name);
    if (!b) return;
    // A new phase (another label, or a count that starts again): its own rate and ETA.
    if (b.e && (b.e.label !== e.label || e.done < b.e.done)) b.start = Date.now();
    b.e = e;
  }

  end(name: string): void {
    this.bars.delete(name);
  }

  lines(): string[] {
    return [...this.bars].map(
      ([name, b]) =>
        `  ${name}: ${b.e ? progressLine(b.e.label, b.e.done, b.e.total, b.start, b.e.extra) : 'starting'}`,
    );
  }

  /** Print a log line (above the bars on a terminal). */
  log(line: string): void {
    this.clear();
    this.write(line + '\n');
    this.draw();
  }

  redraw(): void {
    this.clear();
    this.draw();
  }

  private clear(): void {
    if (this.live && this.drawn) this.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.live) return;
    const cols = terminalColumns(process.stderr.columns) - 1;
    const ls = this.lines().map((l) => l.slice(0, cols));
    for (const l of ls) this.write(l + '\n');
    this.drawn = ls.length;
  }
}

export interface ExecuteReport {
  computed: string[];
  cached: string[];
  seconds: number;
  queue?: QueueRunStats;
}

export function makeWorker(workerData: unknown): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./worker.js', here), { workerData });
  // From source (tsx, tests) the worker is a .ts file: register tsx's loader in the thread first.
  const api = import.meta.resolve('tsx/esm/api');
  const worker = new URL('./worker.ts', here).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export async function execute(stages: Stage[], o: ExecuteOptions): Promise<ExecuteReport> {
  const quiet = !o.log;
  const bars = new StageBars(!quiet && !!o.live, (x) => process.stderr.write(x));
  const log = quiet ? () => {} : o.live ? (l: string) => bars.log(l) : o.log!;
  const t0 = performance.now();
  const byName = new Map(stages.map((s) => [s.name, s]));
  const forced = new Set<string>();
  for (const f of o.force ?? []) {
    const hits = stages.filter((s) => s.name === f || s.name.startsWith(f + '/') || s.kind === f);
    if (!hits.length)
      throw new RobustlabError(
        `--force: no stage matches '${f}' (stage names look like classifier/mnist/image/2L; kinds: classifier, generator, codes, attack, transfer, svd)`,
      );
    hits.forEach((h) => forced.add(h.name));
  }
  // Whatever depends on a forced stage is recomputed too (its inputs change).
  for (let grew = true; grew;) {
    grew = false;
    for (const s of stages) {
      if (!forced.has(s.name) && s.deps.some((d) => forced.has(d))) {
        forced.add(s.name);
        grew = true;
      }
    }
  }
  const done = new Set<string>();
  const cached: string[] = [];
  for (const s of stages) {
    if (forced.has(s.name)) continue;
    const st = stageStatus(s);
    if (st.done) {
      done.add(s.name);
      cached.push(s.name);
    } else if (st.problem) log(`stage ${s.name}: ${st.problem}; recomputing it`);
  }
  const computed: string[] = [];
  const running = new Map<string, number>();
  const waiting = () => stages.filter((s) => !done.has(s.name) && !running.has(s.name));
  const status = () =>
    `[${done.size}/${stages.length} done, ${running.size} running, ${waiting().length} waiting, ${formatDuration((performance.now() - t0) / 1000)}]`;
  if (cached.length) log(`${status()} ${cached.length} stages already done (reused)`);
  // Ready stages, longest remaining chain first (critical-path scheduling); ties keep graph order.
  const priority = criticalPathPriority(stages);
  const ready = () =>
    waiting()
      .filter((s) => s.deps.every((d) => done.has(d)))
      .sort((a, b) => priority.get(b.name)! - priority.get(a.name)!);
  const dirsOf = (s: Stage) => Object.fromEntries(s.deps.map((d) => [d, byName.get(d)!.dir]));

  // On a terminal the bars are redrawn every second; otherwise a status block every 30 s.
  const ticker = setInterval(
    () => {
      if (!running.size || quiet) return;
      if (o.live) bars.redraw();
      else log([`${status()} running:`, ...bars.lines()].join('\n'));
    },
    o.live ? 1000 : 30_000,
  );
  const started = (s: Stage) => {
    running.set(s.name, performance.now());
    bars.start(s.name);
    log(`${status()} start ${s.name}`);
  };
  const finished = (name: string) => {
    // A queue may report a stage twice (its job lost with Redis and run again): count it once.
    if (done.has(name)) return;
    running.delete(name);
    bars.end(name);
    done.add(name);
    computed.push(name);
    log(`${status()} done  ${name}`);
    o.onStageDone?.({ computed: computed.length, reused: cached.length });
  };
  let queueStats: QueueRunStats | undefined;
  try {
    // No more threads (each with its own backend) than stages left to run.
    const toRun = stages.length - done.size;
    if (toRun === 0) {
      // nothing to compute: start no backend at all
    } else if (o.queue) {
      const { runOnQueue } = await import('./queue-executor.js');
      const onProgress = (name: string, e: ProgressEvent) => bars.update(name, e);
      queueStats = await runOnQueue(o.queue, stages, ready, finished, started, onProgress, log);
    } else if (o.workers <= 1 || toRun === 1) {
      for (let s = ready()[0]; s; s = ready()[0]) {
        started(s);
        const name = s.name;
        observeProgress((e) => bars.update(name, e));
        await runStage(s, dirsOf(s), o.ctx);
        finished(name);
      }
    } else {
      await runPool(
        { ...o, workers: Math.min(o.workers, toRun) },
        ready,
        dirsOf,
        finished,
        started,
        (name, e) => bars.update(name, e),
      );
    }
  } finally {
    observeProgress(null);
    clearInterval(ticker);
  }
  const left = waiting();
  if (left.length)
    throw new RobustlabError(
      `${left.length} stages could not run (unmet dependencies): ${left[0].name}`,
    );
  return { computed, cached, seconds: (performance.now() - t0) / 1000, queue: queueStats };
}

async function runPool(
  o: ExecuteOptions,
  ready: () => Stage[],
  dirsOf: (s: Stage) => Record<string, string>,
  onDone: (name: string) => void,
  onStart: (s: Stage) => void,
  onProgress: (name: string, e: ProgressEvent) => void,
): Promise<void> {
  const workers = Array.from({ length: o.workers }, () =>
    makeWorker({ backend: o.backend, ctx: o.ctx }),
  );
  const idle: Worker[] = [];
  const busy = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const dispatch = () => {
        for (const s of ready()) {
          if (busy.has(s.name)) continue;
          const w = idle.pop();
          if (!w) break;
          busy.add(s.name);
          onStart(s);
          w.postMessage({ stage: s, dirs: dirsOf(s) });
        }
        if (busy.size === 0) resolve();
      };
      for (const w of workers) {
        w.on('error', (e) =>
          reject(new RobustlabError(`worker failed: ${e.message.split('\n')[0]}`)),
        );
        w.on(
          'message',
          (m: {
            ready?: boolean;
            ok?: boolean;
            name?: string;
            error?: string;
            progress?: ProgressEvent;
          }) => {
            if (m.progress) {
              onProgress(m.name!, m.progress);
              return;
            }
            if (m.ready) {
              idle.push(w);
              dispatch();
              return;
            }
            busy.delete(m.name!);
            if (!m.ok) {
              reject(new RobustlabError(`stage ${m.name} failed: ${m.error}`));
              return;
            }
            onDone(m.name!);
            idle.push(w);
            dispatch();
          },
        );
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
