/**
 * The stage graph on a real BullMQ queue: a real redis-server on a free local port, a
 * coordinator (`robustlab reproduce --queue`) and `robustlab worker` processes, each in its own
 * working directory, sharing only the artifact directory. The results must equal a local run's
 * with the same seed, also when a worker is SIGKILLed mid-stage or Redis restarts mid-run
 * (losing every job: it runs without persistence). Skipped, with a message, without
 * redis-server. The fault cases run parts of the graph (--stages) to stay small.
 * ROBUSTLAB_QUEUE_SLOW=1 adds the coordinator-killed case.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../src/experiments/queue-executor.js';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';

const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) =>
  existsSync(p),
);
if (!REDIS_SERVER)
  console.warn('test/queue.test.ts skipped: no redis-server (apt-get install redis-server)');
const SLOW = !!process.env.ROBUSTLAB_QUEUE_SLOW;

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-queue-'));
const LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI = ['--import', LOADER, join(REPO_ROOT, 'src/cli/run-dev.ts')];
const RUN = ['--preset', 'tiny', '--dataset', 'mnist', '--data-dir', TEST_DATA_DIR, '--json'];
// Short locks so a dead worker's stage moves on within seconds; generous enough that a busy
// machine's timer delays do not look like a dead worker (and max-stalled tolerates some).
const FAST_STALL = ['--lock-seconds', '6', '--stalled-seconds', '2', '--max-stalled', '5'];

let port = 0;
let url = '';
let redis: ChildProcess | null = null;
const children = new Set<ChildProcess>();

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

async function startRedis(): Promise<void> {
  const dir = join(tmp, 'redis');
  mkdirSync(dir, { recursive: true });
  const r = spawn(
    REDIS_SERVER!,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    r.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    r.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  redis = r;
}

async function stopRedis(): Promise<void> {
  const r = redis;
  if (!r) return;
  redis = null;
  const gone = new Promise((resolve) => r.once('exit', resolve));
  r.kill('SIGKILL');
  await gone;
}

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], cwd: string): Proc {
  mkdirSync(cwd, { recursive: true });
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ROBUSTLAB_DATA: '' },
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, stderr: () => err, stdout: () => out, exited };
}

const worker = (name: string, artifacts: string, extra: string[] = []) =>
  start(
    ['worker', '--queue', url, '--artifacts', artifacts, '--data-dir', TEST_DATA_DIR, ...extra],
    join(tmp, 'cwd', name),
  );

const coordinator = (out: string, extra: string[] = []) =>
  start(
    ['reproduce', ...RUN, '--quiet', '--queue', url, '--out', out, ...extra],
    join(tmp, 'cwd', 'coord'),
  );

async function until(what: string, ok: () => boolean, seconds = 240): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function finished(out: string): string[] {
  const dir = join(out, 'stages');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((d) => existsSync(join(dir, d, 'stage.json')));
}

/** results.json without timings, paths and how it ran, which legitimately differ. */
function comparable(out: string): unknown {
  const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .filter(
            ([k]) =>
              !/seconds|timings|wall|rss|computedStages|reusedStages|out$|model$|^queue$|^workers$|^reportCompute$/i.test(
                k,
              ),
          )
          .map(([k, x]) => [k, strip(x)]),
      );
    return v;
  };
  return strip(r);
}

/** Every finished stage's result (timings dropped, the run directory replaced by <root>). */
function stageResults(out: string): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const d of finished(out)) {
    const text = readFileSync(join(out, 'stages', d, 'stage.json'), 'utf8').replaceAll(
      out,
      '<root>',
    );
    const strip = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(strip);
      if (v && typeof v === 'object')
        return Object.fromEntries(
          Object.entries(v)
            .filter(([k]) => !/seconds|finishedAt/i.test(k))
            .map(([k, x]) => [k, strip(x)]),
        );
      return v;
    };
    r[d] = strip(JSON.parse(text).result);
  }
  return r;
}

/** The reference's results for the stages a partial run finished. */
function referenceFor(out: string): Record<string, unknown> {
  return Object.fromEntries(Object.keys(stageResults(out)).map((d) => [d, refStages[d]]));
}

async function finish(p: Proc): Promise<{ computed: string[]; cached: string[] }> {
  const code = await p.exited;
  expect(code, p.stderr()).toBe(0);
  return JSON.parse(p.stdout());
}

let reference: unknown;
let refStages: Record<string, unknown> = {};
let stageCount = 0;

describe.skipIf(!REDIS_SERVER)('stage graph on a BullMQ queue', () => {
  beforeAll(async () => {
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    await startRedis();
    const ref = join(tmp, 'ref');
    const local = spawnSync(
      process.execPath,
      // Worker threads, as the queue's workers use (one BLAS thread each: the same arithmetic).
      [...CLI, 'reproduce', ...RUN, '--workers', '2', '--out', ref],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(local.status, local.stderr).toBe(0);
    reference = comparable(ref);
    refStages = stageResults(ref);
    stageCount = finished(ref).length;
    expect(stageCount).toBeGreaterThan(40);
  });

  afterEach(async () => {
    for (const c of children) c.kill('SIGKILL');
    // A clean queue for the next case.
    if (redis) spawnSync('redis-cli', ['-p', String(port), 'flushall'], { stdio: 'ignore' });
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await stopRedis();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a coordinator and 3 worker processes give the local run’s results', async () => {
    const art = join(tmp, 'three');
    mkdirSync(art);
    const ws = [1, 2, 3].map((i) => worker(`three-w${i}`, art));
    const r = await finish(coordinator(art));
    expect(r.computed.length).toBe(stageCount);
    expect(comparable(art)).toEqual(reference);
    expect(stageResults(art)).toEqual(refStages);
    // The work was shared: every worker ran stages (each wrote "start" lines).
    for (const w of ws) expect(w.stderr()).toMatch(/start \w+\//);
  }, 900_000); // the whole graph: ~1 min on a quiet machine, >5 min on a crowded one

  it('a worker SIGKILLed mid-stage: its stage moves to another worker, same results', async () => {
    const art = join(tmp, 'kill');
    mkdirSync(art);
    const ws = [1, 2, 3].map((i) => worker(`kill-w${i}`, art, FAST_STALL));
    // A chain ending in a pixel-space attack through a projection (the slowest kind of stage).
    const coord = coordinator(art, ['--stages', 'attack/mnist/ae-projection/1L/pixel-space']);
    let victim: { w: Proc; stage: string } | undefined;
    await until('a worker to start the attack', () => {
      victim ??= ws
        .map((w) => ({ w, m: /start (attack\/\S+)/.exec(w.stderr()) }))
        .filter((x) => x.m)
        .map((x) => ({ w: x.w, stage: x.m![1] }))[0];
      return !!victim;
    });
    victim!.w.child.kill('SIGKILL');
    await victim!.w.exited;
    const r = await finish(coord);
    expect(r.computed.length).toBe(4);
    expect(stageResults(art)).toEqual(referenceFor(art));
    if (!victim!.w.stderr().includes(`done  ${victim!.stage}`)) {
      // Stalled-job detection handed the killed stage on; another worker ran it to the end.
      const others = ws.filter((w) => w !== victim!.w).map((w) => w.stderr());
      expect(others.some((e) => e.includes(`done  ${victim!.stage}`))).toBe(true);
    } else console.warn('the killed worker had just finished its stage: handoff not exercised');
  });

  it('Redis restarted mid-run (all jobs lost): both sides reconnect, same results', async () => {
    const art = join(tmp, 'restart');
    mkdirSync(art);
    [1, 2].map((i) => worker(`restart-w${i}`, art, FAST_STALL));
    // All classifiers: 21 stages (generators, codes, image and latent classifiers).
    const coord = coordinator(art, ['--stages', 'classifier/mnist']);
    await until('5 stages done', () => finished(art).length >= 5);
    await stopRedis();
    await new Promise((r) => setTimeout(r, 2000));
    await startRedis();
    const r = await finish(coord);
    expect(r.computed.length).toBe(21);
    expect(stageResults(art)).toEqual(referenceFor(art));
    expect(coord.stderr()).toBe(''); // --quiet: nothing, no raw client errors either
  });

  it('rejects a malformed job with a clear reason and keeps working', async () => {
    const art = join(tmp, 'malformed');
    mkdirSync(art);
    const w = worker('malformed-w', art);
    const queue = new Queue(QUEUE_NAME, { connection: { url } });
    try {
      const good = {
        format: 1,
        key: '0123456789abcdef',
        name: 'generator/mnist/ae',
        kind: 'generator',
        params: {
          dataset: 'mnist',
          kind: 'ae',
          epochs: 1,
          seed: 0,
          limitTrain: 300,
          limitTest: 100,
        },
        deps: [],
        root: art,
      };
      const bad = [
        ['not an object', 'rm -rf /'],
        ['path in the name', { ...good, name: 'generator/../../etc' }],
        ['unknown kind', { ...good, kind: 'shell' }],
        ['bad param', { ...good, params: { ...good.params, epochs: 'many' } }],
        ['extra param', { ...good, params: { ...good.params, command: 'ls' } }],
        ['wrong key', good],
      ] as const;
      for (const [i, [, data]] of bad.entries())
        await queue.add('stage', data, { jobId: `bad-${i}`, attempts: 3 });
      const reasons: string[] = [];
      for (const i of bad.keys()) {
        let job;
        const t0 = Date.now();
        for (;;) {
          job = await queue.getJob(`bad-${i}`);
          if (job && (await job.getState()) === 'failed') break;
          if (Date.now() - t0 > 120_000) throw new Error(`job bad-${i} was never rejected`);
          await new Promise((r) => setTimeout(r, 200));
        }
        reasons.push(job.failedReason);
        // Failed at once, not retried: no worker could ever run it.
        expect(job.attemptsMade).toBe(1);
      }
      for (const reason of reasons) expect(reason).toMatch(/^malformed stage job: /);
      expect(reasons[1]).toMatch(/name/);
      expect(reasons[2]).toMatch(/kind "shell"/);
      expect(reasons[3]).toMatch(/params.epochs/);
      expect(reasons[4]).toMatch(/unknown params.command/);
      expect(reasons[5]).toMatch(/does not match/);
      // The worker is alive, logged one line per rejected job, and no stack trace.
      expect(w.child.exitCode).toBe(null);
      expect(w.stderr().match(/rejected job/g)?.length).toBe(bad.length);
      expect(w.stderr()).not.toMatch(/\n\s+at /);
      expect(finished(art)).toEqual([]);
    } finally {
      await queue.close();
    }
  });

  it('a stage failing for a real reason fails the run with its message after --attempts', async () => {
    const art = join(tmp, 'fail');
    mkdirSync(art);
    const empty = join(tmp, 'no-data');
    mkdirSync(empty, { recursive: true });
    // This worker has no data: every stage fails there (a real error, not a malformed job).
    start(
      ['worker', '--queue', url, '--artifacts', art, '--data-dir', empty],
      join(tmp, 'cwd', 'fail-w'),
    );
    const coord = coordinator(art, ['--attempts', '2']);
    expect(await coord.exited).toBe(1);
    const lines = coord.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^robustlab: stage \S+ failed after 2 attempt\(s\) on the queue: /);
    expect(lines[0]).toMatch(/mnist/);
  });

  it.skipIf(!SLOW)(
    'the coordinator killed mid-run: a rerun adopts finished and running jobs',
    async () => {
      const art = join(tmp, 'coord-kill');
      mkdirSync(art);
      const ws = [1, 2].map((i) => worker(`coord-w${i}`, art));
      const only = ['--stages', 'classifier/mnist'];
      const first = coordinator(art, only);
      await until('5 stages done', () => finished(art).length >= 5);
      first.child.kill('SIGKILL');
      await first.exited;
      const r = await finish(coordinator(art, only));
      expect(r.computed.length + r.cached.length).toBe(21);
      expect(stageResults(art)).toEqual(referenceFor(art));
      // Nothing ran twice: every stage started once over both coordinators.
      const starts = ws.flatMap((w) => w.stderr().match(/start \S+/g) ?? []);
      expect(starts.length).toBe(21);
      expect(new Set(starts).size).toBe(21);
    },
  );
});
