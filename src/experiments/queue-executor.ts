/**
 * The job-queue backend of the stage executor (coordinator side): instead of handing ready
 * stages to local worker threads it adds them to a BullMQ queue on Redis, one job per stage
 * (jobId from the stage key, so adding again is a no-op), and `robustlab worker` processes on
 * any machine run them into the shared artifact directory.
 *
 * The artifact directory is the truth: a stage is done when its stage.json is there, whatever
 * Redis says. Redis events (active, progress, completed, failed) only make the display and the
 * reaction prompt; a periodic check of every job in flight covers what events can miss (a
 * coordinator restarted mid-run, Redis restarted with its data lost: lost jobs are added again).
 */
import { Queue, QueueEvents } from 'bullmq';
import { RobustlabError } from '../data/errors.js';
import type { ProgressEvent } from '../util/progress.js';
import { redactUrl } from '../util/redact-url.js';
import { checkRedis, fatalRedisProblem, queueConnection } from './redis-connect.js';
import { jobIdOf, stageJobOf } from './stage-job.js';
import { criticalPathPriority, stageDone, type Stage } from './stages.js';

export const QUEUE_NAME = 'robustlab-stages';

export { queueConnection, type ConnectionControl } from './redis-connect.js';

export interface QueueRunOptions {
  /** redis://[:password@]host:port[/db] or rediss://… (TLS). */
  url: string;
  /** The artifact directory (the run's --out), as the workers' default --artifacts. */
  root: string;
  /** Tries per stage before the run fails (BullMQ attempts). */
  attempts?: number;
  /** How long a stage may be reported finished without its stage.json appearing (s). */
  outputGraceSeconds?: number;
}

export interface QueueRunStats {
  jobs: number;
  /** Coordinator CPU time per job it handled (ms). */
  coordinatorCpuMsPerJob: number;
  /** Mean time from a job finishing on a worker to the coordinator noticing (ms). */
  noticeMs: number;
  /** Jobs added again after Redis lost them. */
  requeued: number;
}

const QUEUE_DEFAULTS = { attempts: 2, outputGraceSeconds: 60 };

/**
 * Redis errors as one line each, at most one every 10 s per kind (reconnects are noisy). With
 * `fatal`, an error waiting will not fix (the password refused after a reconnect: Redis
 * restarted with another one) goes there once instead, so the caller stops instead of
 * reconnecting forever.
 */
export function redisErrorLogger(
  log: (line: string) => void,
  who: string,
  fatal?: { url: string; onFatal: (problem: string) => void },
) {
  const last = new Map<string, number>();
  let fatalSeen = false;
  const logger = (e: Error) => {
    if (logger.muted) return;
    const problem = fatal && fatalRedisProblem(e, fatal.url);
    if (problem) {
      if (!fatalSeen) fatal.onFatal(problem);
      fatalSeen = true;
      return;
    }
    const msg = `${who}: redis: ${redactUrl((e.message || String(e)).split('\n')[0])}`;
    const now = Date.now();
    if (now - (last.get(msg) ?? 0) < 10_000) return;
    last.set(msg, now);
    log(`${msg} (retrying)`);
  };
  /** Set once closing: errors of connections being torn down are not news. */
  logger.muted = false;
  return logger;
}

/** Wait until Redis answers, or fail with a clear message. */
export async function waitForRedis(queue: Queue, url: string, seconds = 15): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RobustlabError(
            `cannot reach Redis at ${redactUrl(url)} after ${seconds} s (is redis-server running and reachable?)`,
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    await Promise.race([queue.waitUntilReady(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Close BullMQ objects without waiting forever for a Redis that is gone, then drop their
 * connections (else ioredis keeps reconnecting and the process never exits).
 */
export async function closeQuietly(
  ...xs: { close(): Promise<void>; disconnect?(): Promise<void> }[]
): Promise<void> {
  await Promise.race([
    Promise.allSettled(xs.map((x) => x.close())),
    new Promise((r) => setTimeout(r, 3000).unref()),
  ]);
  await Promise.race([
    Promise.allSettled(xs.map((x) => x.disconnect?.())),
    new Promise((r) => setTimeout(r, 1000).unref()),
  ]);
}

/**
 * Run the stages `ready()` returns on the queue until nothing is in flight and nothing is
 * ready. Same contract as the local pool: onStart when a worker takes a stage, onDone when its
 * output is in the artifact directory, a RobustlabError when a stage fails for good.
 */
export async function runOnQueue(
  opts: QueueRunOptions,
  stages: Stage[],
  ready: () => Stage[],
  onDone: (name: string) => void,
  onStart: (s: Stage) => void,
  onProgress: (name: string, e: ProgressEvent) => void,
  log: (line: string) => void,
): Promise<QueueRunStats> {
  const o = { ...QUEUE_DEFAULTS, ...opts };
  const cpu0 = process.cpuUsage();
  const control = { closing: false };
  const connection = queueConnection(o.url, control);
  // A wrong password, an untrusted certificate or TLS against a plain port fail here, at once.
  await checkRedis(o.url, { seconds: 15 });
  const queue = new Queue(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  // A fatal Redis error (the password refused on a reconnect) ends the run at once, whatever
  // Redis command the loop is waiting for.
  let failFatal: (e: Error) => void = () => {};
  const fatal = new Promise<never>((_, reject) => (failFatal = reject));
  fatal.catch(() => {});
  const guard = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => {}); // it may fail after the run has already stopped on the fatal error
    return Promise.race([p, fatal]);
  };
  const onError = redisErrorLogger(log, 'coordinator', {
    url: o.url,
    onFatal: (problem) => failFatal(new RobustlabError(problem)),
  });
  queue.on('error', onError);
  events.on('error', onError);
  const byName = new Map(stages.map((s) => [s.name, s]));
  const byJob = new Map(stages.map((s) => [jobIdOf(s.key), s]));
  // Priority 1 is taken first: rank the stages by their critical path (see executor.ts).
  const prio = criticalPathPriority(stages);
  const rank = new Map(
    [...stages]
      .sort((a, b) => prio.get(b.name)! - prio.get(a.name)!)
      .map((s, i) => [s.name, i + 1]),
  );
  interface InFlight {
    stage: Stage;
    started: boolean;
    /** When Redis first said completed while stage.json was not (yet) visible here. */
    completedAt?: number;
  }
  const inFlight = new Map<string, InFlight>();
  let requeued = 0;
  let noticeTotal = 0;
  let noticed = 0;
  const handled = new Set<string>();
  let wake: () => void = () => {};
  let redisCheckDue = false;
  const nudge = () => wake();

  const add = (s: Stage) =>
    queue.add('stage', stageJobOf(s, byName, o.root), {
      jobId: jobIdOf(s.key),
      priority: rank.get(s.name),
      attempts: o.attempts,
      backoff: { type: 'exponential', delay: 2000 },
      // Keep finished jobs a while: a rerun reads what happened from them.
      removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 100_000 },
    });

  const started = (f: InFlight) => {
    if (f.started) return;
    f.started = true;
    onStart(f.stage);
  };

  /** Add a ready stage, or adopt its job if one is already there (a rerun coordinator). */
  const enqueue = async (s: Stage) => {
    const f: InFlight = { stage: s, started: false };
    inFlight.set(s.name, f);
    handled.add(s.name);
    const id = jobIdOf(s.key);
    const state = await queue.getJobState(id);
    if (state === 'failed' || (state === 'completed' && !stageDone(s))) {
      // Failed on an earlier run (retry now) or its output is gone: start afresh.
      await (await queue.getJob(id))?.remove();
    } else if (state !== 'unknown') {
      if (state === 'active') started(f);
      return;
    }
    await add(s);
  };

  const schedule = async () => {
    for (const s of ready()) if (!inFlight.has(s.name)) await enqueue(s);
  };

  const finish = (f: InFlight, finishedOn?: number) => {
    // Events and the periodic check race (both await Redis): finish each stage once.
    if (inFlight.get(f.stage.name) !== f) return;
    inFlight.delete(f.stage.name);
    if (finishedOn) {
      noticeTotal += Math.max(0, Date.now() - finishedOn);
      noticed++;
    }
    onDone(f.stage.name);
  };

  /** Reconcile every stage in flight with the artifact directory and Redis. */
  const check = async (withRedis: boolean) => {
    for (const f of [...inFlight.values()]) {
      if (inFlight.get(f.stage.name) !== f) continue; // finished meanwhile
      if (stageDone(f.stage)) {
        finish(f);
        continue;
      }
      if (!withRedis) continue;
      const id = jobIdOf(f.stage.key);
      const state = await queue.getJobState(id);
      if (state === 'unknown') {
        // Redis lost the job (restarted without persistence, or flushed): add it again.
        log(`job for ${f.stage.name} is gone from Redis (restarted?): adding it again`);
        requeued++;
        await add(f.stage);
      } else if (state === 'failed') {
        const job = await queue.getJob(id);
        if (stageDone(f.stage)) finish(f);
        else
          throw new RobustlabError(
            `stage ${f.stage.name} failed after ${job?.attemptsMade ?? '?'} attempt(s) on the queue: ${String(job?.failedReason ?? 'unknown reason').split('\n')[0]}`,
          );
      } else if (state === 'completed') {
        f.completedAt ??= Date.now();
        if (Date.now() - f.completedAt > o.outputGraceSeconds * 1000)
          throw new RobustlabError(
            `stage ${f.stage.name} finished on a worker but its output is not in ${f.stage.dir} (do the workers' --artifacts point to this run's --out?)`,
          );
      } else if (state === 'active') started(f);
    }
  };

  events.on('active', ({ jobId }) => {
    const s = byJob.get(jobId);
    const f = s && inFlight.get(s.name);
    if (f) started(f);
  });
  events.on('progress', ({ jobId, data }) => {
    const s = byJob.get(jobId);
    const e = data as unknown as ProgressEvent;
    if (s && inFlight.has(s.name) && e && typeof e === 'object' && typeof e.label === 'string')
      onProgress(s.name, e);
  });
  events.on('stalled', ({ jobId }) => {
    const s = byJob.get(jobId);
    if (s && inFlight.has(s.name))
      log(`stage ${s.name} stalled (its worker stopped renewing the lock): back in the queue`);
  });
  events.on('completed', async ({ jobId }) => {
    const s = byJob.get(jobId);
    const f = s && inFlight.get(s.name);
    if (f && stageDone(f.stage)) {
      const job = await queue.getJob(jobId).catch(() => undefined);
      finish(f, job?.finishedOn);
    }
    nudge();
  });
  events.on('failed', () => {
    redisCheckDue = true;
    nudge();
  });

  try {
    await guard(waitForRedis(queue, o.url));
    await guard(events.waitUntilReady());
    await guard(schedule());
    let lastRedisCheck = Date.now();
    while (inFlight.size) {
      await guard(
        new Promise<void>((r) => {
          const t = setTimeout(r, 1000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        }),
      );
      wake = () => {};
      const withRedis = redisCheckDue || Date.now() - lastRedisCheck >= 3000;
      if (withRedis) {
        lastRedisCheck = Date.now();
        redisCheckDue = false;
      }
      await guard(check(withRedis));
      await guard(schedule());
    }
  } catch (e) {
    // A command failed by the same error as the connection (WRONGPASS): the one-line reason.
    const problem = e instanceof RobustlabError ? undefined : fatalRedisProblem(e as Error, o.url);
    throw problem ? new RobustlabError(problem) : e;
  } finally {
    onError.muted = true;
    control.closing = true;
    await closeQuietly(events, queue);
  }
  const c = process.cpuUsage(cpu0);
  const jobs = Math.max(1, handled.size);
  return {
    jobs: handled.size,
    coordinatorCpuMsPerJob: (c.user + c.system) / 1000 / jobs,
    noticeMs: noticed ? noticeTotal / noticed : NaN,
    requeued,
  };
}
