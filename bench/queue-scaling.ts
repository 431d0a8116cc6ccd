/**
 * `node --import tsx bench/queue-scaling.ts [--preset quick] [--dataset mnist] [--workers 1,2,3]
 *   [--simulate-only] [--json]`
 *
 * 1. Measured: a fresh redis-server on a free local port, then for each worker count N a fresh
 *    artifact directory, N `robustlab worker` processes (concurrency 1, each its own cwd) and one
 *    `robustlab reproduce --queue` coordinator: wall time, the sum of stage times, the overhead per
 *    job with one worker ((wall − Σ stage) / jobs: handoff, coordinator, worker start), the
 *    coordinator's CPU per job and its notice latency.
 * 2. Simulated: the paper run's measured stage times (docs/paper/results.json, a quiet-machine
 *    run) scheduled on 1…64 single-slot machines (src/experiments/schedule-sim.ts) with the
 *    measured per-job overhead: what to expect on N machines, and the critical path no number
 *    of machines beats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { simulateSchedule } from '../src/experiments/schedule-sim.js';
import { PRESETS } from '../src/experiments/presets.js';
import { buildGraph } from '../src/experiments/stages.js';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';

const { values: v } = parseArgs({
  options: {
    preset: { type: 'string', default: 'quick' },
    dataset: { type: 'string', default: 'mnist' },
    workers: { type: 'string', default: '1,2,3' },
    'simulate-only': { type: 'boolean' },
    overhead: { type: 'string' },
    json: { type: 'boolean' },
  },
});

const CLI = [
  '--import',
  pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
  join(REPO_ROOT, 'src/cli/run-dev.ts'),
];

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

function run(args: string[], cwd: string): { child: ChildProcess; done: Promise<string> } {
  mkdirSync(cwd, { recursive: true });
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const done = new Promise<string>((res, rej) =>
    child.on('exit', (c) => (c === 0 ? res(out) : rej(new Error(`${args[0]} exited ${c}`)))),
  );
  return { child, done };
}

interface Measured {
  workers: number;
  wallSeconds: number;
  stageSeconds: number;
  jobs: number;
  overheadPerJobSeconds: number;
  coordinatorCpuMsPerJob: number;
  noticeMs: number;
}

async function measure(): Promise<Measured[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'robustlab-scaling-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = spawn(
    'redis-server',
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
      tmp,
    ],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 1000));
  const rows: Measured[] = [];
  try {
    for (const n of v.workers!.split(',').map(Number)) {
      const art = join(tmp, `w${n}`);
      mkdirSync(art);
      const workers = Array.from({ length: n }, (_, i) =>
        run(
          ['worker', '--queue', url, '--artifacts', art, '--data-dir', TEST_DATA_DIR, '--quiet'],
          join(tmp, `cwd-${n}-${i}`),
        ),
      );
      const t0 = performance.now();
      const coord = run(
        [
          'reproduce',
          '--preset',
          v.preset!,
          '--dataset',
          v.dataset!,
          '--queue',
          url,
          '--out',
          art,
        ].concat(['--data-dir', TEST_DATA_DIR, '--json']),
        join(tmp, `cwd-${n}-coord`),
      );
      const r = JSON.parse(await coord.done);
      const wall = (performance.now() - t0) / 1000;
      for (const w of workers) w.child.kill('SIGTERM');
      const stageSeconds = readdirSync(join(art, 'stages')).reduce(
        (a, d) =>
          a + JSON.parse(readFileSync(join(art, 'stages', d, 'stage.json'), 'utf8')).seconds,
        0,
      );
      rows.push({
        workers: n,
        wallSeconds: wall,
        stageSeconds,
        jobs: r.queue.jobs,
        overheadPerJobSeconds: (wall - stageSeconds / n) / r.queue.jobs,
        coordinatorCpuMsPerJob: r.queue.coordinatorCpuMsPerJob,
        noticeMs: r.queue.noticeMs,
      });
      process.stderr.write(`${n} worker(s): ${wall.toFixed(1)} s\n`);
    }
  } finally {
    redis.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

/** The paper graph (both datasets) `seeds` times over, with the paper run's stage times. */
function simulate(overhead: number, seeds: number) {
  const paper = JSON.parse(readFileSync(resolve(REPO_ROOT, 'docs/paper/results.json'), 'utf8'));
  // the study's stages (that run recorded no evaluate stages); its names predate the /seedN tail
  const defs = buildGraph(['mnist', 'fashion-mnist'], { ...PRESETS.paper, evaluation: undefined }, 0);
  const plain = (name: string) => name.replace(/\/seed\d+$/, '');
  const one = defs.map((d) => ({
    name: d.name,
    deps: d.deps,
    seconds: paper.timings[d.name] ?? paper.timings[plain(d.name)],
  }));
  const missing = one.filter((s) => typeof s.seconds !== 'number');
  if (missing.length) throw new Error(`no paper timing for ${missing[0].name}`);
  const stages = Array.from({ length: seeds }, (_, k) =>
    one.map((s) => ({ ...s, name: `${k}:${s.name}`, deps: s.deps.map((d) => `${k}:${d}`) })),
  ).flat();
  return [1, 2, 3, 4, 6, 8, 12, 16, 32, 64].map((m) => ({
    seeds,
    ...simulateSchedule(stages, m, overhead),
  }));
}

const measured = v['simulate-only'] ? [] : await measure();
const overhead = v.overhead
  ? Number(v.overhead)
  : (measured.find((m) => m.workers === 1)?.overheadPerJobSeconds ?? 1);
const simulated = [...simulate(overhead, 1), ...simulate(overhead, 10)];
if (v.json) {
  process.stdout.write(JSON.stringify({ measured, overhead, simulated }, null, 2) + '\n');
} else {
  const f = (x: number, d = 1) => x.toFixed(d);
  if (measured.length) {
    console.log(`measured (${v.preset} preset, ${v.dataset}):`);
    console.log(
      'workers | wall s | Σ stage s | jobs | overhead/job s | coord CPU ms/job | notice ms',
    );
    for (const m of measured)
      console.log(
        `${m.workers} | ${f(m.wallSeconds)} | ${f(m.stageSeconds)} | ${m.jobs} | ${f(m.overheadPerJobSeconds, 2)} | ${f(m.coordinatorCpuMsPerJob)} | ${f(m.noticeMs)}`,
      );
  }
  console.log(`simulated paper run (both datasets), ${f(overhead, 2)} s overhead per job:`);
  console.log('seeds | machines | makespan s | critical path s | work/machines s | utilisation');
  for (const s of simulated)
    console.log(
      `${s.seeds} | ${s.slots} | ${f(s.makespan)} | ${f(s.criticalPath)} | ${f(s.workBound)} | ${f(s.utilisation * 100, 0)}%`,
    );
}
