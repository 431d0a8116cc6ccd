/**
 * The stage graph on a real BullMQ queue: a real redis-server on a free local port, a
 * coordinator (`robustlab reproduce --queue`) and `robustlab worker` processes, each in its own
 * working directory, sharing only the artifact directory. The results must equal a local run's
 * with the same seed, also when a worker is SIGKILLed mid-stage or Redis restarts mid-run
 * (losing every job: it runs without persistence). Skipped, with a message, without
 * redis-server. The fault cases run parts of the graph (--stages) to stay small.
 * ROBUSTLAB_QUEUE_SLOW=1 adds the coordinator-killed case. The rediss:// cases (TLS with a
 * password, a throwaway CA made with openssl at test time) run a second redis-server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../src/experiments/queue-executor.js';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { slowTests } from '../src/testing/slow-tests.js';

// tests of many seconds: vitest-setup.ts pauses before each (its RPC timeout)
slowTests();

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

/** redis-server on 127.0.0.1 without persistence, once it accepts connections. */
async function spawnRedis(name: string, args: string[]): Promise<ChildProcess> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const r = spawn(
    REDIS_SERVER!,
    [...args, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
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
  return r;
}

async function startRedis(): Promise<void> {
  redis = await spawnRedis('redis', ['--port', String(port)]);
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

function start(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  mkdirSync(cwd, { recursive: true });
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ROBUSTLAB_DATA: '', ...env },
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

/** Which queue a process uses: the plain test Redis by default. */
interface QueueAt {
  url: string;
  env?: Record<string, string>;
}

const worker = (name: string, artifacts: string, extra: string[] = [], q: QueueAt = { url }) =>
  start(
    ['worker', '--queue', q.url, '--artifacts', artifacts, '--data-dir', TEST_DATA_DIR, ...extra],
    join(tmp, 'cwd', name),
    q.env,
  );

const coordinator = (out: string, extra: string[] = [], q: QueueAt = { url }) =>
  start(
    ['reproduce', ...RUN, '--quiet', '--queue', q.url, '--out', out, ...extra],
    join(tmp, 'cwd', 'coord'),
    q.env,
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
  }, 900_000); // the whole local graph: ~1 min on a quiet machine, >5 min on a crowded one

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
        // Failed at once, not retried (attempts: 3 allowed): no worker could ever run it. BullMQ
        // may persist the attempt counter after the state (read 0 once, quiet machine); the one
        // rejection line per job below is the exact check that nothing was retried.
        expect(job.attemptsMade).toBeLessThanOrEqual(1);
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

  /**
   * rediss:// with a password: a throwaway CA and server certificate made with openssl in the
   * temp directory at test time (no key is committed), redis-server with --tls-port only
   * (--port 0) and --requirepass; the clients trust the CA through ROBUSTLAB_REDIS_CA.
   * Skipped, with the reason, without openssl or when redis-server is built without TLS.
   */
  describe('rediss:// (TLS) with a password', () => {
    const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
    const certs = join(tmp, 'tls');
    const ca = join(certs, 'ca.crt');
    const env = { ROBUSTLAB_REDIS_CA: ca };
    let tlsPort = 0;
    let tlsRedis: ChildProcess | null = null;
    let skipReason: string | undefined;
    const tlsUrl = (password = PASSWORD, p = tlsPort) =>
      `rediss://${password ? `:${password}@` : ''}127.0.0.1:${p}`;

    /** A CA, and a server certificate it signs for 127.0.0.1 / localhost. */
    function makeCertificates(): string | undefined {
      mkdirSync(certs, { recursive: true });
      const steps = [
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt'],
        ['-days', '2', '-subj', '/CN=robustlab test CA'],
        ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr'],
        ['-subj', '/CN=127.0.0.1'],
        ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key'],
        ['-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf'],
      ];
      writeFileSync(join(certs, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      for (let i = 0; i < steps.length; i += 2) {
        const r = spawnSync('openssl', [...steps[i], ...steps[i + 1]], {
          cwd: certs,
          encoding: 'utf8',
        });
        if (r.error) return `no openssl (${r.error.message}; apt-get install openssl)`;
        if (r.status !== 0) throw new Error(`openssl ${steps[i][0]} failed: ${r.stderr}`);
      }
      return undefined;
    }

    async function startTlsRedis(password: string): Promise<void> {
      tlsRedis = await spawnRedis('redis-tls', [
        ...['--port', '0', '--tls-port', String(tlsPort)],
        ...['--tls-cert-file', join(certs, 'server.crt')],
        ...['--tls-key-file', join(certs, 'server.key')],
        ...['--tls-ca-cert-file', ca, '--tls-auth-clients', 'no'],
        ...['--requirepass', password],
      ]);
    }

    async function stopTlsRedis(): Promise<void> {
      const r = tlsRedis;
      if (!r) return;
      tlsRedis = null;
      const gone = new Promise((resolve) => r.once('exit', resolve));
      r.kill('SIGKILL');
      await gone;
    }

    beforeAll(async () => {
      skipReason = makeCertificates();
      if (skipReason) return;
      tlsPort = await freePort();
      try {
        await startTlsRedis(PASSWORD);
      } catch (e) {
        const msg = (e as Error).message;
        if (!/tls/i.test(msg)) throw e;
        skipReason = `redis-server without TLS support: ${msg.split('\n').filter(Boolean).slice(-1)[0]}`;
      }
    });

    afterAll(stopTlsRedis);

    const skipWithout = (ctx: { skip: (note?: string) => never }) => {
      if (skipReason) {
        console.warn(`rediss:// cases skipped: ${skipReason}`);
        ctx.skip(skipReason);
      }
    };

    /** Every file under dir holding `needle`, as paths relative to dir. */
    function filesHolding(dir: string, needle: string): string[] {
      return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => {
        const p = join(dir, f);
        return statSync(p).isFile() && readFileSync(p).includes(needle);
      });
    }

    it('a coordinator and a worker over rediss:// with a password give the local run’s results; the password is printed and stored nowhere', async (ctx) => {
      skipWithout(ctx);
      const art = join(tmp, 'tls-run');
      mkdirSync(art);
      const q = { url: tlsUrl(), env };
      const w = worker('tls-w', art, ['--concurrency', '2'], q);
      // Not --quiet: the banner and progress lines name the queue; they must not name the password.
      const coord = start(
        ['reproduce', ...RUN, '--queue', q.url, '--out', art],
        join(tmp, 'cwd', 'tls-coord'),
        env,
      );
      const r = await finish(coord);
      expect(r.computed.length).toBe(stageCount);
      expect(comparable(art)).toEqual(reference);
      expect(stageResults(art)).toEqual(refStages);
      const results = JSON.parse(readFileSync(join(art, 'results.json'), 'utf8'));
      expect(results.queue).toBe(`rediss://***@127.0.0.1:${tlsPort}`);
      expect(coord.stderr()).toContain(`queue rediss://***@127.0.0.1:${tlsPort}`);
      expect(w.stderr()).toMatch(/start \w+\//);
      // Nowhere: not in any output, any file of the run, or the jobs kept in Redis.
      for (const text of [coord.stdout(), coord.stderr(), w.stdout(), w.stderr()])
        expect(text).not.toContain(PASSWORD);
      expect(filesHolding(art, PASSWORD)).toEqual([]);
      const queue = new Queue(QUEUE_NAME, {
        connection: { url: q.url, tls: { ca: readFileSync(ca) } },
      });
      try {
        const jobs = await queue.getJobs(['completed']);
        expect(jobs.length).toBe(stageCount);
        expect(JSON.stringify(jobs.map((j) => [j.data, j.returnvalue]))).not.toContain(PASSWORD);
      } finally {
        await queue.close();
      }
    }, 900_000);

    it('a wrong or missing password: one line naming it, exit 1, no reconnect loop', async (ctx) => {
      skipWithout(ctx);
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      const art = join(tmp, 'tls-wrong');
      mkdirSync(art);
      const procs = [
        coordinator(art, [], { url: tlsUrl(wrong), env }),
        worker('tls-wrong-w', art, [], { url: tlsUrl(wrong), env }),
        worker('tls-nopass-w', art, [], { url: tlsUrl(''), env }),
      ];
      // Each exits by itself (an endless reconnect loop would time the test out).
      const codes = await Promise.all(procs.map((p) => p.exited));
      expect(codes).toEqual([1, 1, 1]);
      const lines = procs.map((p) => p.stderr().trim().split('\n'));
      for (const l of lines) {
        expect(l).toHaveLength(1);
        expect(l[0]).not.toContain(wrong);
      }
      const where = `127.0.0.1:${tlsPort}`;
      expect(lines[0][0]).toBe(
        `robustlab: Redis at ${where} refused the password (WRONGPASS): check the password in the --queue URL or ROBUSTLAB_REDIS_PASSWORD`,
      );
      expect(lines[1][0]).toBe(lines[0][0]);
      expect(lines[2][0]).toMatch(
        new RegExp(`^robustlab: Redis at ${where} requires a password \\(NOAUTH\\)`),
      );
      expect(finished(art)).toEqual([]);
    });

    it('TLS against a plain port, plain against TLS, an untrusted certificate: one clear line each', async (ctx) => {
      skipWithout(ctx);
      const art = join(tmp, 'tls-mismatch');
      mkdirSync(art);
      const procs = [
        // rediss:// to the plain test Redis.
        worker('tls-plain-w', art, [], { url: tlsUrl(PASSWORD, port), env }),
        // redis:// to the TLS port.
        worker('plain-tls-w', art, [], { url: `redis://:${PASSWORD}@127.0.0.1:${tlsPort}` }),
        // No CA given: the self-made CA is not trusted.
        worker('noca-w', art, [], { url: tlsUrl() }),
        // A CA file that is not one.
        worker('badca-w', art, [], {
          url: tlsUrl(),
          env: { ROBUSTLAB_REDIS_CA: join(certs, 'san.cnf') },
        }),
      ];
      expect(await Promise.all(procs.map((p) => p.exited))).toEqual([1, 1, 1, 1]);
      const lines = procs.map((p) => p.stderr().trim().split('\n'));
      for (const l of lines) {
        expect(l).toHaveLength(1);
        expect(l[0]).not.toContain(PASSWORD);
      }
      expect(lines[0][0]).toMatch(
        new RegExp(
          `^robustlab: 127.0.0.1:${port} is a plain \\(non-TLS\\) Redis port, but the URL is rediss:// \\(TLS\\)`,
        ),
      );
      expect(lines[1][0]).toBe(
        `robustlab: 127.0.0.1:${tlsPort} is a TLS port, but the URL is redis:// (plain): use rediss://127.0.0.1:${tlsPort}`,
      );
      expect(lines[2][0]).toMatch(
        /^robustlab: TLS: the certificate of Redis at \S+ is not trusted \(self-signed certificate in certificate chain\): set ROBUSTLAB_REDIS_CA=FILE/,
      );
      expect(lines[3][0]).toMatch(
        /^robustlab: ROBUSTLAB_REDIS_CA: .*san\.cnf holds no PEM certificate/,
      );
    });

    it('Redis restarted with another password mid-run: both sides stop with one line, no reconnect loop', async (ctx) => {
      skipWithout(ctx);
      const art = join(tmp, 'tls-repass');
      mkdirSync(art);
      const q = { url: tlsUrl(), env };
      const w = worker('tls-repass-w', art, [], q);
      const coord = coordinator(art, ['--stages', 'classifier/mnist'], q);
      try {
        await until('2 stages done', () => finished(art).length >= 2);
        await stopTlsRedis();
        await startTlsRedis(`other-${PASSWORD}`);
        expect(await coord.exited).toBe(1);
        expect(await w.exited).toBe(1);
        const problem = `robustlab: Redis at 127.0.0.1:${tlsPort} refused the password (WRONGPASS): check the password in the --queue URL or ROBUSTLAB_REDIS_PASSWORD`;
        expect(coord.stderr().trim()).toBe(problem); // --quiet: that line only
        expect(w.stderr().trim().split('\n').slice(-1)[0]).toBe(problem);
        for (const text of [coord.stderr(), w.stderr()]) {
          expect(text).not.toMatch(/\n\s+at /);
          expect(text).not.toContain(PASSWORD);
        }
      } finally {
        await stopTlsRedis();
        await startTlsRedis(PASSWORD);
      }
    });
  });
});
