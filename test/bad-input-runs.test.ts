/**
 * Bad-input corpus, part 3: run directories (tampered stage records and graphs, copied runs),
 * locks (a second process, a stale lock of a killed process, Ctrl-C), named pipes where files
 * belong (in a child process, so a hang is a failure and not a stuck test), and system errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSystemError } from '../src/cli/system-errors.js';
import { execute } from '../src/experiments/executor.js';
import { PRESETS } from '../src/experiments/presets.js';
import { readRunGraph } from '../src/experiments/run-graph.js';
import { acquireRunLock, LOCK_FILE } from '../src/experiments/run-lock.js';
import { stageStatus } from '../src/experiments/stage-record.js';
import { buildGraph, resolveGraph, type Stage } from '../src/experiments/stages.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { REPO_ROOT, TEST_DATA_DIR, testBackend } from '../src/testing/fixtures.js';
import { cli, countCase, counts, expectRefused, refused, workspace } from './bad-input/harness.js';

const ws = workspace('runs');
const W = ws.dir;
const D = ['--data-dir', TEST_DATA_DIR];
afterAll(() => {
  ws.cleanup();
  console.log('bad-input run cases:', Object.fromEntries(counts));
});

const CLF1 = 'classifier/mnist/image/1L/seed0';
const CLF2 = 'classifier/mnist/image/2L/seed0';
const stagesOf = (root: string) => resolveGraph(buildGraph(['mnist'], PRESETS.smoke, 0), root);
const stageIn = (root: string, name: string) => stagesOf(root).find((s) => s.name === name)!;
const recordPath = (s: Stage) => join(s.dir, 'stage.json');

/** graph.json as reproduce writes it (stage directories relative to the run). */
function writeGraph(root: string) {
  const stages = stagesOf(root);
  writeFileSync(
    join(root, 'graph.json'),
    JSON.stringify({
      preset: PRESETS.smoke,
      seed: 0,
      datasets: ['mnist'],
      stages: stages.map((s) => ({ ...s, dir: relative(root, s.dir) })),
    }),
  );
}

const RUN = join(W, 'run');
beforeAll(async () => {
  await testBackend();
  // A real run directory with two finished stages (the smoke preset's cheapest).
  mkdirSync(RUN);
  writeGraph(RUN);
  const stages = stagesOf(RUN);
  await execute(
    stages.filter((s) => s.name === CLF1 || s.name === CLF2),
    {
      workers: 1,
      ctx: { dataDir: TEST_DATA_DIR, seed: 0 },
    },
  );
  mkdirSync(join(W, 'cases'));
});

let caseNo = 0;
function copyRun(): string {
  const dir = join(W, 'cases', `run-${caseNo++}`);
  cpSync(RUN, dir, { recursive: true });
  return dir;
}

const mkfifo = (p: string) => {
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
};

describe('stage records are validated against their stage and a schema', () => {
  const edit = (f: (j: any) => void) => (p: string) => {
    const j = JSON.parse(readFileSync(p, 'utf8'));
    f(j);
    writeFileSync(p, JSON.stringify(j));
  };
  const cases: [string, (p: string, root: string) => void, RegExp][] = [
    ['empty', (p) => writeFileSync(p, ''), /not valid JSON/],
    [
      'garbled (cut short)',
      (p) => writeFileSync(p, readFileSync(p, 'utf8').slice(0, 50)),
      /not valid JSON \(empty or cut short\)/,
    ],
    ['{}', (p) => writeFileSync(p, '{}'), /belongs to another stage/],
    ['null', (p) => writeFileSync(p, 'null'), /is not a record/],
    ['an array', (p) => writeFileSync(p, '[]'), /is not a record/],
    [
      'a null result',
      edit((j) => void (j.result = null)),
      /the result is missing fields of a classifier stage/,
    ],
    ['an empty result', edit((j) => void (j.result = {})), /the result is missing fields/],
    [
      'a string where a number belongs',
      edit((j) => void (j.result.testAccuracy = '0.9')),
      /wrong types/,
    ],
    ['an accuracy above 1', edit((j) => void (j.result.trainAccuracy = 1.5)), /wrong types/],
    ['seconds a string', edit((j) => void (j.seconds = '3')), /'seconds' is not a number/],
    ['another key', edit((j) => void (j.key = '0000000000000000')), /belongs to another stage/],
    [
      'other settings',
      edit((j) => void (j.params.epochs = 99)),
      /has other settings than this stage/,
    ],
    [
      'copied from another stage',
      (p, root) => cpSync(recordPath(stageIn(root, CLF2)), p),
      /belongs to another stage \(classifier\/mnist\/image\/2L/,
    ],
    [
      'its model removed',
      (p) => rmSync(join(p, '..', 'model'), { recursive: true }),
      /its output model\/robustlab\.json is missing/,
    ],
    ['a directory', (p) => (rmSync(p), mkdirSync(p)), /stage\.json is not a regular file/],
    ['a named pipe', (p) => (rmSync(p), mkfifo(p)), /stage\.json is not a regular file/],
  ];
  for (const [name, tamper, problem] of cases) {
    it(name, () => {
      const root = copyRun();
      const s = stageIn(root, CLF1);
      expect(stageStatus(s).done).toBe(true);
      tamper(recordPath(s), root);
      const st = stageStatus(s);
      expect(st.done).toBe(false);
      expect(!st.done && st.problem).toMatch(problem);
      countCase('tampered stage record');
    });
  }

  it('a bad record is recomputed, and the user is told', async () => {
    const root = copyRun();
    const s = stageIn(root, CLF1);
    writeFileSync(recordPath(s), '{"name": "classifier/mnist/image/1L/seed0", "result": null}');
    const log: string[] = [];
    const r = await execute([s], {
      workers: 1,
      ctx: { dataDir: TEST_DATA_DIR, seed: 0 },
      log: (l) => log.push(l),
    });
    expect(r.computed).toEqual([CLF1]);
    expect(log.join('\n')).toMatch(
      /stage classifier\/mnist\/image\/1L\/seed0: stage\.json .* recomputing it/,
    );
    expect(stageStatus(s).done).toBe(true);
  });
});

describe('a copied run directory reads its own stages', () => {
  it('stores paths relative to the run, and a copy works with the original gone', () => {
    const original = copyRun();
    const moved = join(W, 'cases', `moved-${caseNo++}`);
    cpSync(original, moved, { recursive: true });
    rmSync(original, { recursive: true });
    const graph = readFileSync(join(moved, 'graph.json'), 'utf8');
    const record = readFileSync(recordPath(stageIn(moved, CLF1)), 'utf8');
    expect(graph).not.toContain(W);
    expect(record).not.toContain(W);
    expect(JSON.parse(record).result.out).toMatch(
      /^stages\/classifier_mnist_image_1L_seed0-\w+\/model$/,
    );
    const stages = readRunGraph(moved);
    const s = stages.find((x) => x.name === CLF1)!;
    expect(s.dir.startsWith(moved)).toBe(true);
    expect(stageStatus(s).done).toBe(true);
  });
});

describe('tampered run graphs are refused by figure', () => {
  const cases: [string, (root: string) => void, RegExp][] = [
    [
      'graph.json missing',
      (r) => rmSync(join(r, 'graph.json')),
      /is not a reproduce run \(graph\.json missing\)/,
    ],
    [
      'graph.json not JSON',
      (r) => writeFileSync(join(r, 'graph.json'), '{"stages": ['),
      /graph\.json: not valid JSON/,
    ],
    [
      'graph.json empty',
      (r) => writeFileSync(join(r, 'graph.json'), ''),
      /graph\.json: not valid JSON/,
    ],
    [
      'stages not a list',
      (r) => writeFileSync(join(r, 'graph.json'), '{"stages": 5}'),
      /graph\.json: not a robustlab stage graph/,
    ],
    [
      'graph.json null',
      (r) => writeFileSync(join(r, 'graph.json'), 'null'),
      /not a robustlab stage graph/,
    ],
    [
      'a stage of kind __proto__',
      (r) =>
        writeFileSync(
          join(r, 'graph.json'),
          JSON.stringify({ stages: [{ name: 'x', kind: '__proto__', params: {}, deps: [] }] }),
        ),
      /not a robustlab stage graph/,
    ],
    [
      'a dependency on an unknown stage',
      (r) =>
        writeFileSync(
          join(r, 'graph.json'),
          JSON.stringify({ stages: [{ name: 'x', kind: 'attack', params: {}, deps: ['nope'] }] }),
        ),
      /depends on unknown or later stage nope/,
    ],
    [
      'graph.json a directory',
      (r) => (rmSync(join(r, 'graph.json')), mkdirSync(join(r, 'graph.json'))),
      /graph\.json: is a directory, not a regular file/,
    ],
    [
      'every stage record damaged',
      (r) => {
        for (const n of [CLF1, CLF2]) writeFileSync(recordPath(stageIn(r, n)), '{}');
      },
      /has no finished stages for mnist/,
    ],
    [
      'stage dirs pointing outside the run (ignored: dirs are recomputed)',
      (r) => {
        const g = JSON.parse(readFileSync(join(r, 'graph.json'), 'utf8'));
        for (const s of g.stages) s.dir = '/etc';
        writeFileSync(join(r, 'graph.json'), JSON.stringify(g));
        for (const n of [CLF1, CLF2]) rmSync(recordPath(stageIn(r, n)));
      },
      /has no finished stages for mnist/,
    ],
  ];
  for (const [name, tamper, problem] of cases) {
    it(name, async () => {
      const root = copyRun();
      tamper(root);
      await refused(
        W,
        W,
        ['figure', 'accuracy', '--dataset', 'mnist', '--run', root, ...D],
        problem,
      );
      countCase('tampered run graph');
    });
  }
  it('a file as --run', async () => {
    writeFileSync(join(W, 'cases', 'a-file'), 'x');
    await refused(
      W,
      W,
      ['figure', 'accuracy', '--dataset', 'mnist', '--run', join(W, 'cases', 'a-file'), ...D],
      /is not a reproduce run/,
    );
    countCase('tampered run graph');
  });
});

const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const runDev = join(REPO_ROOT, 'src/cli/run-dev.ts');
const env = { ...process.env, ROBUSTLAB_DATA: '', XDG_CACHE_HOME: join(W, '.cache') };

/** Spawn a process; resolves with its exit code and output when it ends. */
function child(
  args: string[],
  o: { onStderr?: (s: string) => void; env?: Record<string, string> } = {},
) {
  const p = spawn(process.execPath, ['--import', tsx, ...args], {
    cwd: W,
    env: { ...env, ...o.env },
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => {
    err += d;
    o.onStderr?.(err);
  });
  const done = new Promise<{
    code: number | null;
    signal: string | null;
    out: string;
    err: string;
  }>((res) => p.on('close', (code, signal) => res({ code, signal, out, err })));
  return { p, done };
}

const waitFor = async (cond: () => boolean, what: string, ms = 120_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('one process at a time in a run directory', () => {
  const reproduceArgs = (out: string) => [
    'reproduce',
    '--preset',
    'smoke',
    '--dataset',
    'mnist',
    '--workers',
    '1',
    '--out',
    out,
    ...D,
  ];

  it('refuses a second reproduce while the lock is held (in this process)', async () => {
    const root = copyRun();
    const lock = acquireRunLock(root);
    try {
      await refused(
        W,
        W,
        reproduceArgs(root),
        new RegExp(
          `is in use by another robustlab process \\(pid ${process.pid} on .*\\); wait for it to finish or stop it`,
        ),
      );
      countCase('locked run');
    } finally {
      lock.release();
    }
    expect(existsSync(join(root, LOCK_FILE))).toBe(false);
  });

  it('two reproduce processes on one --out: the second is refused; Ctrl-C on the first says how to resume', async () => {
    const root = join(W, 'cases', `race-${caseNo++}`);
    const a = child([runDev, ...reproduceArgs(root)]);
    await waitFor(() => existsSync(join(root, LOCK_FILE)), 'the first run to take its lock');
    const b = await child([runDev, ...reproduceArgs(root)]).done;
    expect(b.code).toBe(1);
    const lines = b.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^robustlab: .* is in use by another robustlab process \\(pid ${a.p.pid} `),
    );
    countCase('locked run');
    a.p.kill('SIGINT');
    const ra = await a.done;
    expect(ra.code).toBe(130);
    expect(ra.err).toMatch(
      /^robustlab reproduce: preset smoke, mnist, out .*, 1 worker, seeds 0, compute wasm/m,
    );
    expect(ra.err).toMatch(
      /interrupted; finished stages are kept in .*Resume with the same command: robustlab reproduce --preset smoke/,
    );
    expect(existsSync(join(root, LOCK_FILE))).toBe(false);
  });

  it('a stale lock left by a killed process is detected and taken over', async () => {
    const root = copyRun();
    const holder = child([
      '-e',
      `import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/experiments/run-lock.ts')).href)}).then((m) => { m.acquireRunLock(${JSON.stringify(root)}); console.error('locked'); setInterval(() => {}, 1000); });`,
    ]);
    await waitFor(() => existsSync(join(root, LOCK_FILE)), 'the holder to lock');
    const pid = holder.p.pid!;
    await refused(
      W,
      W,
      reproduceArgs(root),
      new RegExp(`in use by another robustlab process \\(pid ${pid} `),
    );
    countCase('locked run');
    holder.p.kill('SIGKILL');
    await holder.done;
    expect(existsSync(join(root, LOCK_FILE))).toBe(true); // a killed process cannot clean up
    const log: string[] = [];
    const lock = acquireRunLock(root, { log: (l) => log.push(l) });
    expect(log.join()).toMatch(
      new RegExp(`removed a stale lock in .*process ${pid} from .* is no longer running`),
    );
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });
});

describe('named pipes where files belong are refused before they are opened', () => {
  it('no command waits on a FIFO', async () => {
    const root = copyRun();
    const model = join(stageIn(root, CLF1).dir, 'model');
    const fifoCopy = (f: string) => {
      const dir = join(W, 'cases', `fifo-${caseNo++}`);
      cpSync(model, dir, { recursive: true });
      rmSync(join(dir, f));
      mkfifo(join(dir, f));
      return dir;
    };
    const graphFifo = copyRun();
    rmSync(join(graphFifo, 'graph.json'));
    mkfifo(join(graphFifo, 'graph.json'));
    const recordFifo = copyRun();
    for (const n of [CLF1, CLF2]) {
      rmSync(recordPath(stageIn(recordFifo, n)));
      mkfifo(recordPath(stageIn(recordFifo, n)));
    }
    const outFifo = join(W, 'cases', `out-fifo-${caseNo++}`);
    mkfifo(outFifo);
    const dataFifo = join(W, 'cases', `data-fifo-${caseNo++}`, 'mnist');
    mkdirSync(dataFifo, { recursive: true });
    for (const f of [
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
      't10k-images-idx3-ubyte.gz',
    ])
      symlinkSync(join(TEST_DATA_DIR, 'mnist', f), join(dataFifo, f));
    mkfifo(join(dataFifo, 't10k-labels-idx1-ubyte.gz'));
    const cases: { name: string; args: string[]; problem: RegExp }[] = [
      {
        name: 'robustlab.json',
        args: ['eval', '--model', fifoCopy('robustlab.json'), ...D],
        problem: /robustlab\.json: is a named pipe \(FIFO\), not a regular file/,
      },
      {
        name: 'model.json',
        args: ['eval', '--model', fifoCopy('model.json'), ...D],
        problem: /model\.json: is a named pipe \(FIFO\), not a regular file/,
      },
      {
        name: 'weights',
        args: ['eval', '--model', fifoCopy('model.weights.bin'), ...D],
        problem: /model\.weights\.bin: is a named pipe \(FIFO\)/,
      },
      {
        name: 'weights (attack)',
        args: ['attack', '--model', fifoCopy('model.weights.bin'), ...D],
        problem: /is a named pipe \(FIFO\)/,
      },
      {
        name: 'graph.json',
        args: ['figure', 'accuracy', '--dataset', 'mnist', '--run', graphFifo, ...D],
        problem: /graph\.json: is a named pipe \(FIFO\)/,
      },
      {
        name: 'stage.json',
        args: ['figure', 'accuracy', '--dataset', 'mnist', '--run', recordFifo, ...D],
        problem: /has no finished stages for mnist/,
      },
      {
        name: '--out',
        args: ['train', 'classifier', '--dataset', 'mnist', '--arch', '1L', '--out', outFifo, ...D],
        problem: /is an existing file, not a directory/,
      },
      {
        name: 'data file',
        args: ['eval', '--model', model, '--data-dir', join(dataFifo, '..')],
        problem: /t10k-labels/,
      },
    ];
    const p = child([join(REPO_ROOT, 'test/bad-input/fifo-child.ts')], {
      env: {
        ROBUSTLAB_FIFO_CASES: JSON.stringify({
          cwd: W,
          cases: cases.map(({ name, args }) => ({ name, args })),
        }),
      },
    });
    // A command that opened a pipe would block forever: the child is killed after a while and
    // the cases without a result are the ones that hung.
    const timer = setTimeout(() => p.p.kill('SIGKILL'), 240_000);
    const r = await p.done;
    clearTimeout(timer);
    const results = new Map(
      r.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { name: string; code: number; out: string; err: string })
        .map((x) => [x.name, x]),
    );
    for (const c of cases) {
      const got = results.get(c.name);
      expect(got, `${c.name}: hung or crashed (${r.err.slice(-300)})`).toBeDefined();
      expectRefused(got!, c.problem);
      countCase('named pipe');
    }
  }, 300_000);
});

describe('system errors are one line in words, and nothing is left half-written', () => {
  const real = (f: () => void) => {
    try {
      f();
    } catch (e) {
      return e;
    }
    throw new Error('no error');
  };
  it('names the problem and the file', () => {
    expect(describeSystemError(real(() => writeFileSync('/dev/full', 'x')))).toBe(
      'no space left on device while writing',
    );
    const dir = join(W, 'cases', `sys-${caseNo++}`);
    mkdirSync(dir);
    expect(describeSystemError(real(() => readFileSync(dir)))).toMatch(
      /^is a directory, not a file while reading/,
    );
    expect(describeSystemError(real(() => mkdirSync(dir)))).toBe(
      `already exists while creating the directory ${dir}`,
    );
    const eacces = Object.assign(new Error('EACCES: permission denied'), {
      code: 'EACCES',
      syscall: 'open',
      path: '/x/y',
    });
    expect(describeSystemError(eacces)).toBe('permission denied while opening /x/y');
    const ebusy = Object.assign(new Error('EBUSY'), {
      code: 'EBUSY',
      syscall: 'rmdir',
      path: '/mnt',
    });
    expect(describeSystemError(ebusy)).toBe(
      'resource busy or locked while removing the directory /mnt',
    );
    for (let i = 0; i < 5; i++) countCase('system error');
  });

  it('an atomic write that fails leaves no temp file and reports the target', () => {
    const dir = join(W, 'cases', `atomic-${caseNo++}`);
    mkdirSync(join(dir, 'target'), { recursive: true });
    writeFileSync(join(dir, 'target', 'keep'), 'x');
    const e = real(() => writeFileAtomic(join(dir, 'target'), 'data'));
    expect(describeSystemError(e)).toMatch(
      new RegExp(
        `^(is a directory, not a file|directory not empty) while moving into place ${dir}/target$`,
      ),
    );
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(join(dir, 'target'))).toEqual(['keep']);
    countCase('system error');
  });

  it('a directory that cannot be created: one line, after the work, nothing half-written', async () => {
    const r = await cli(
      W,
      'train',
      'classifier',
      '--dataset',
      'mnist',
      '--arch',
      '1L',
      '--hidden',
      '8',
      '--epochs',
      '1',
      '--limit-train',
      '200',
      '--limit-test',
      '50',
      '--quiet',
      '--out',
      '/proc/robustlab-no-such-dir',
      ...D,
    );
    expectRefused(
      r,
      /^robustlab: no such file or directory while creating the directory \/proc\/robustlab-no-such-dir$/,
    );
    countCase('system error');
  });

  const fullFs = process.env.ROBUSTLAB_TEST_FULL_FS ?? mountSmallFs();
  it.skipIf(!fullFs)(
    'a full file system: no space left, one line, nothing half-written',
    async () => {
      const out = join(fullFs!, `robustlab-full-${process.pid}`);
      const before = existsSync(fullFs!) ? readdirSync(fullFs!) : [];
      const r = await cli(
        W,
        'train',
        'classifier',
        '--dataset',
        'mnist',
        '--arch',
        '1L',
        '--epochs',
        '1',
        '--limit-train',
        '200',
        '--limit-test',
        '50',
        '--quiet',
        '--out',
        out,
        ...D,
      );
      expectRefused(r, /no space left on device while/);
      expect(readdirSync(fullFs!)).toEqual(before);
      countCase('system error');
    },
  );
  if (!fullFs)
    console.log(
      'bad-input: full-file-system case skipped: no small full file system here (mounting a 64 KiB tmpfs needs root, and `mount` failed or this is not root); set ROBUSTLAB_TEST_FULL_FS to a full one to run it',
    );
});

/**
 * A 64 KiB tmpfs of the test's own, when this process may mount one (root, as in CI): any model's
 * weights overflow it, so the write fails with ENOSPC for real. Unmounted after the file's tests.
 */
function mountSmallFs(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = join(W, 'full-fs');
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir], {
    stdio: 'ignore',
  });
  if (r.status !== 0) return undefined;
  afterAll(() => {
    spawnSync('umount', [dir], { stdio: 'ignore' });
  });
  return dir;
}
