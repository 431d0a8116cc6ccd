/**
 * `robustlab worker`: takes stage jobs from the BullMQ queue and runs them with the same code as
 * a local run (runStage, in worker threads: one tensor backend per thread, and the main thread
 * stays free to renew the jobs' locks while a stage computes). Outputs go to the artifact
 * directory with the usual atomic writes; stage.json last.
 *
 * A worker killed mid-stage stops renewing its lock: after lockDuration another worker's
 * stalled-job check (every stalledInterval) puts the job back in the queue and it is run again
 * from scratch (a stage's directory is rewritten; stage.json was never written).
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Worker as Thread } from 'node:worker_threads';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { RobustlabError } from '../data/errors.js';
import type { ProgressEvent } from '../util/progress.js';
import { makeWorker } from './executor.js';
import { QUEUE_NAME, closeQuietly, queueConnection, redisErrorLogger } from './queue-executor.js';
import { checkRedis } from './redis-connect.js';
import { MalformedJobError, parseStageJob, stageOfJob } from './stage-job.js';
import { stageDone, type Stage } from './stages.js';

export interface QueueWorkerOptions {
  url: string;
  /** Stages run at once (one worker thread each). */
  concurrency?: number;
  /** The shared artifact directory as this machine sees it; default: the coordinator's path. */
  artifacts?: string;
  dataDir?: string;
  backend?: string;
  /** A job's lock lasts this long without renewal (renewed every half of it). */
  lockSeconds?: number;
  /** How often this worker looks for jobs whose lock expired (their worker died). */
  stalledSeconds?: number;
  /** Times a job may be handed on after its worker died before it fails. */
  maxStalled?: number;
  log?: (line: string) => void;
  /**
   * A Redis error waiting will not fix after the start (the password refused on a reconnect:
   * Redis restarted with another one), once; without it such errors are logged and retried.
   */
  onFatal?: (problem: string) => void;
}

export const WORKER_DEFAULTS = {
  concurrency: 1,
  lockSeconds: 30,
  stalledSeconds: 30,
  maxStalled: 2,
};

export interface WorkerSummary {
  completed: number;
  reused: number;
  failed: number;
  rejected: number;
}

interface ThreadResult {
  ok?: boolean;
  ready?: boolean;
  name?: string;
  error?: string;
  progress?: ProgressEvent;
}

/** Worker threads running runStage (src/experiments/worker.ts), one stage at a time each. */
class ThreadPool {
  private readonly idle: Thread[] = [];
  private readonly waiters: ((t: Thread) => void)[] = [];
  private readonly all = new Set<Thread>();
  private closed = false;

  constructor(
    private readonly data: unknown,
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  private spawn(): void {
    if (this.closed) return;
    const t = makeWorker(this.data);
    this.all.add(t);
    const onReady = (m: ThreadResult) => {
      if (!m.ready) return;
      t.off('message', onReady);
      this.release(t);
    };
    t.on('message', onReady);
    t.on('error', () => {}); // reported to the stage it was running, see run()
    t.once('exit', () => {
      this.all.delete(t);
      const i = this.idle.indexOf(t);
      if (i >= 0) this.idle.splice(i, 1);
      this.spawn();
    });
  }

  private release(t: Thread): void {
    const w = this.waiters.shift();
    if (w) w(t);
    else this.idle.push(t);
  }

  private take(): Promise<Thread> {
    const t = this.idle.pop();
    return t ? Promise.resolve(t) : new Promise((r) => this.waiters.push(r));
  }

  async run(
    stage: Stage,
    dirs: Record<string, string>,
    onProgress: (e: ProgressEvent) => void,
  ): Promise<void> {
    const t = await this.take();
    await new Promise<void>((resolveRun, reject) => {
      const onMessage = (m: ThreadResult) => {
        if (m.progress) return onProgress(m.progress);
        if (m.name !== stage.name) return;
        cleanup();
        this.release(t);
        if (m.ok) resolveRun();
        else reject(new Error(m.error ?? 'stage failed'));
      };
      const onError = (e: Error) => {
        cleanup();
        reject(new Error(`worker thread died: ${e.message.split('\n')[0]}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`worker thread exited (code ${code})`));
      };
      const cleanup = () => {
        t.off('message', onMessage);
        t.off('error', onError);
        t.off('exit', onExit);
      };
      t.on('message', onMessage);
      t.on('error', onError);
      t.on('exit', onExit);
      t.postMessage({ stage, dirs });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all].map((t) => t.terminate()));
  }
}

const clock = () => new Date().toISOString().slice(11, 19);

/** Start taking jobs; resolves once connected. `close()` finishes the running stages first. */
export async function startQueueWorker(opts: QueueWorkerOptions) {
  const o = { ...WORKER_DEFAULTS, ...opts };
  const log = (line: string) => o.log?.(`[${clock()}] ${line}`);
  const artifacts = o.artifacts ? resolve(o.artifacts) : undefined;
  if (artifacts && !existsSync(artifacts))
    throw new RobustlabError(`--artifacts: no directory ${artifacts}`);
  const control = { closing: false };
  const connection = queueConnection(o.url, control);
  const onError = redisErrorLogger(log, 'worker', o.onFatal && { url: o.url, onFatal: o.onFatal });
  // Before any thread starts: a wrong password, an untrusted certificate or TLS against a
  // plain port fail at once with one line; Redis not up yet is waited for (workers may start
  // first).
  await checkRedis(o.url, { seconds: Infinity, onWait: onError });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const pool = new ThreadPool({ backend: o.backend, ctx: { dataDir, seed: 0 } }, o.concurrency);
  const summary: WorkerSummary = { completed: 0, reused: 0, failed: 0, rejected: 0 };
  let active = 0;
  let lastActive = Date.now();
  const workerName = `${hostname()}:${process.pid}`;

  const process_ = async (job: Job): Promise<Record<string, unknown>> => {
    let parsed;
    try {
      parsed = parseStageJob(job.data);
    } catch (e) {
      if (!(e instanceof MalformedJobError)) throw e;
      summary.rejected++;
      log(`rejected job ${job.id}: ${e.message}`);
      // Never retried: no worker can run it.
      throw new UnrecoverableError(e.message);
    }
    const { stage, dirs } = stageOfJob(parsed, artifacts ?? parsed.root);
    if (stageDone(stage)) {
      summary.reused++;
      log(`already done ${stage.name}`);
      return { reused: true, worker: workerName };
    }
    for (const [name, dir] of Object.entries(dirs))
      if (!existsSync(resolve(dir, 'stage.json')))
        throw new Error(
          `input ${name} is not in the artifact directory ${artifacts ?? parsed.root} (is --artifacts the shared directory?)`,
        );
    active++;
    const t0 = performance.now();
    log(`start ${stage.name} (job ${job.id}, attempt ${job.attemptsMade + 1})`);
    try {
      await pool.run(stage, dirs, (e) => {
        job.updateProgress({ ...e }).catch(() => {});
      });
      summary.completed++;
      const seconds = (performance.now() - t0) / 1000;
      log(`done  ${stage.name} in ${seconds.toFixed(1)} s`);
      return { seconds, worker: workerName };
    } catch (e) {
      summary.failed++;
      log(`failed ${stage.name}: ${(e as Error).message}`);
      throw e;
    } finally {
      active--;
      lastActive = Date.now();
    }
  };

  const worker: Worker = new Worker(QUEUE_NAME, process_, {
    connection,
    concurrency: o.concurrency,
    name: workerName,
    lockDuration: o.lockSeconds * 1000,
    stalledInterval: o.stalledSeconds * 1000,
    maxStalledCount: o.maxStalled,
    autorun: false,
  });
  worker.on('error', onError);
  const stopped = worker.run().catch((e) => log(`worker stopped: ${(e as Error).message}`));
  await worker.waitUntilReady();
  log(
    `worker ${workerName}: ${o.concurrency} stage(s) at a time, artifacts ${artifacts ?? "(the coordinator's --out)"}`,
  );
  return {
    summary,
    /** Seconds since a stage last ran here (0 while one runs). */
    idleSeconds: () => (active ? 0 : (Date.now() - lastActive) / 1000),
    /** Stop taking jobs; `force` abandons running stages (they go to another worker). */
    async close(force = false): Promise<WorkerSummary> {
      // Stop fetching at once; let running stages finish unless forced. BullMQ's close waits
      // for Redis, which may be down: give it a few seconds after the stages are done.
      const closing = worker.close(force);
      closing.catch(() => {});
      while (!force && active > 0) await new Promise((r) => setTimeout(r, 200));
      onError.muted = true;
      control.closing = true;
      await closeQuietly({ close: () => closing, disconnect: () => worker.disconnect() });
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 1000).unref())]);
      await pool.close();
      return summary;
    },
  };
}
