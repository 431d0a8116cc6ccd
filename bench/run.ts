/**
 * `npm run bench [-- --only epoch,stages,memory --repeats N --json]`
 *   epoch   seconds per MNIST epoch of 1L / 2L / LRL, with and without the wasm matmul fix
 *   stages  every stage of the study, robustlab vs the same work in PyTorch (bench/pytorch_bench.py)
 *           when `python3 -c "import torch"` works; the PyTorch column is skipped otherwise
 *   batch   the three heads trained one at a time and together, at 1 and 2 BLAS threads, and
 *           their first layers as one concatenated product: time and bit-equality (batch-train.ts)
 *   eval    PGD, APGD-CE, Square and the autoattack cascade on --eval-n MNIST test points of an LRL
 *           at L∞ --eval-eps (default 0.3, the convention, where an undefended model falls at once,
 *           and 0.1, where the attacks do real work), vs the same attacks in PyTorch
 *           (bench/pytorch_eval_bench.py)
 *   wasm    (only when asked for) the same study and evaluation stages on the pure wasm path, the
 *           addon off (a browser, or no OpenBLAS), against the same PyTorch numbers (reused when
 *           stages/eval ran in this call), in its own process (bench/wasm-path.ts; ~4 min)
 *   memory  peak resident memory of the last `reproduce --preset paper` run (runs/paper)
 *   study   that run's wall clock and stage seconds beside the same stages in PyTorch, read from
 *           bench/results/pytorch-study*.json (bench/pytorch_study.py; ~20 min, so never run here)
 * Medians of --repeats runs after one warm-up. Installs nothing. Writes bench/results/latest.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/backend.js';
import { nativeLoops } from '../src/backend/host-kernels.js';
import {
  loadNativeMatmul,
  nativeMatmulStatus,
  setBlasThreads,
} from '../src/backend/native-matmul.js';
import { loadDataset } from '../src/data/node-io.js';
import { benchEpochs } from './epoch.js';
import { benchBatchEpochs, benchFirstLayerGemm, simulateGrouping } from './batch-train.js';
import { buildGraph } from '../src/experiments/stages.js';
import type { Preset } from '../src/experiments/presets.js';
import type { DatasetName } from '../src/data/datasets.js';
import { workloads } from './stages.js';
import {
  EVAL_MODEL_DIR,
  type EvalStage,
  evalModel,
  evalStages,
  evalWorkloads,
} from './eval-stages.js';
import type { WasmPathOut } from './wasm-path.js';
import { findTorchPython, TORCH_CONFIGS, type TorchBest, torchBest } from './torch-search.js';
import { table, time } from './util.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    'data-dir': { type: 'string' },
    'probe-frac': { type: 'string', default: '0.1' },
    'eval-n': { type: 'string', default: '1000' },
    'eval-eps': { type: 'string', default: '0.3,0.1' },
    'batch-dims': { type: 'string', default: '32,784' },
    'wasm-repeats': { type: 'string', default: '2' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'usage: npm run bench -- [--only epoch,stages,batch,eval,wasm,memory,study] [--repeats N] [--probe-frac F] [--batch-dims D,...] [--eval-n N] [--eval-eps E,...] [--wasm-repeats N] [--data-dir DIR] [--json]',
  );
  process.exit(0);
}
const only = values.only?.split(',');
// `wasm` (the pure wasm path) only when asked for: it adds ~4 minutes
const want = (name: string) => (only ? only.includes(name) : name !== 'wasm');
const repeats = Number(values.repeats);
const probeFrac = Number(values['probe-frac']);
const evalN = Number(values['eval-n']);
const evalEps = values['eval-eps']!.split(',').map(Number);
const dataDir =
  values['data-dir'] ??
  process.env.ROBUSTLAB_DATA ??
  (await import('../src/testing/fixtures.js')).TEST_DATA_DIR;

const backend = await initBackend({ backend: 'wasm' });
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  tfjs: tf.version.tfjs,
  backend,
};
const log = (s: string) => (values.json ? process.stderr.write(s + '\n') : console.log(s));
const python = want('stages') || want('eval') || want('wasm') ? findTorchPython() : undefined;

/** PyTorch's side of the study stages and of the evaluation stages, run once per call. */
let stagesTorch: TorchBest | null | undefined;
let evalTorch: TorchBest | null | undefined;
function torchStages(stageNames: string[]): TorchBest | null {
  if (stagesTorch !== undefined) return stagesTorch;
  if (!python) {
    log(
      '\nPyTorch not found (python3 -c "import torch" failed): the PyTorch column is skipped. Install it with: apt-get install python3-torch libopenblas0-pthread',
    );
    return (stagesTorch = null);
  }
  // PyTorch at its best on this machine: a short probe of every stage under each thread
  // setting, then each stage timed in full in its fastest setting (bench/torch-search.ts).
  log(`\nrunning the PyTorch side (${python} bench/pytorch_bench.py)...`);
  return (stagesTorch = torchBest(
    python,
    'bench/pytorch_bench.py',
    stageNames,
    repeats,
    [],
    ['--probe', String(probeFrac)],
    log,
  ));
}
function torchEval(stages: EvalStage[]): TorchBest | null {
  if (evalTorch !== undefined) return evalTorch;
  if (!python) return (evalTorch = null);
  log(`\nrunning the PyTorch side of the evaluation stages (bench/pytorch_eval_bench.py)...`);
  return (evalTorch = torchBest(
    python,
    'bench/pytorch_eval_bench.py',
    stages.map((s) => s.name),
    repeats,
    [
      '--model',
      EVAL_MODEL_DIR,
      '--stages',
      JSON.stringify(stages),
      '--data-dir',
      dataDir,
      '--n',
      String(evalN),
    ],
    ['--probe'],
    log,
  ));
}

/**
 * The machine's sgemm peak as robustlab reaches it: one large square sgemm (2048³) through the
 * native addon's OpenBLAS, with its default threads (both cores), best of 5 after a warm-up.
 * The GEMM-bound stages' GFLOP/s are read against it.
 */
function sgemmPeak(threads?: number): { gflops: number; n: number } | null {
  const loops = nativeLoops();
  if (!loops?.sgemm) return null;
  const before = threads ? loadNativeMatmul()!.getNumThreads() : 0;
  if (threads) setBlasThreads(threads);
  const n = 2048;
  const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = a.slice().reverse();
  const c = new Float32Array(n * n);
  let best = Infinity;
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    loops.sgemm(false, false, n, n, n, a, b, c);
    if (r > 0) best = Math.min(best, (performance.now() - t0) / 1000);
  }
  if (threads) setBlasThreads(before);
  return { gflops: (2 * n ** 3) / best / 1e9, n };
}

if (want('stages')) {
  const peak = sgemmPeak();
  results.sgemmPeak = peak;
  if (peak)
    log(
      `sgemm peak (${peak.n}³, native addon OpenBLAS, 2 threads): ${peak.gflops.toFixed(1)} GFLOP/s`,
    );
  const ds = await loadDataset('mnist', { dataDir });
  const rows: {
    stage: string;
    robustlab: number;
    pytorch: number | null;
    pytorchThreads: string | null;
    ratio: number | null;
    gflops: number | null;
  }[] = [];
  const stageList = workloads(ds);
  const torch = torchStages(stageList.map((w) => w.name));
  for (const w of stageList) {
    w.setup?.();
    let flops = 0;
    const t = time(() => (flops = w.run()), { warmup: 1, repeats });
    w.teardown?.();
    const py = torch?.seconds[w.name] ?? null;
    rows.push({
      stage: w.name,
      robustlab: t.median,
      pytorch: py,
      pytorchThreads: torch?.config[w.name] ?? null,
      ratio: py ? t.median / py : null,
      gflops: flops ? flops / t.median / 1e9 : null,
    });
    log(`  ${w.name}: ${t.median.toFixed(3)} s`);
  }
  results.stages = {
    rows,
    torch: torch
      ? { version: torch.torch, configs: TORCH_CONFIGS.map((c) => c.label), probes: torch.probes }
      : null,
  };
  log(
    `\n## The study's stages, robustlab (${backend}) vs PyTorch ${torch ? `${torch.torch} (per stage at its fastest of four thread settings, found by a probe)` : '(absent)'}; ratio = robustlab / PyTorch (≤ 1 is faster)\n`,
  );
  log(
    table(
      [
        'stage',
        'robustlab s',
        'PyTorch s',
        'PyTorch threads',
        'ratio',
        'robustlab GFLOP/s',
        '% of sgemm peak',
      ],
      rows.map((r) => [
        r.stage,
        r.robustlab,
        r.pytorch ?? '—',
        r.pytorchThreads ?? '—',
        r.ratio === null ? '—' : r.ratio.toFixed(2),
        r.gflops === null ? '—' : r.gflops.toFixed(1),
        r.gflops === null || !peak ? '—' : `${((100 * r.gflops) / peak.gflops).toFixed(0)}%`,
      ]),
    ),
  );
}

if (want('batch')) {
  // Several models at once (issue 17 item 2): the three heads one at a time and together, and
  // the one product their first layers could share. No PyTorch column here: the stages table
  // has the three heads both ways beside PyTorch doing the same.
  const dims = values['batch-dims']!.split(',').map(Number);
  const threads = [1, 2];
  const epochs = benchBatchEpochs({ dims, threads, repeats });
  const gemm = benchFirstLayerGemm({ dims, threads });
  const core = nativeMatmulStatus().blas ?? null;
  const peak1 = sgemmPeak(1);
  if (peak1)
    log(
      `sgemm peak (${peak1.n}³, 1 BLAS thread, as a pipeline worker): ${peak1.gflops.toFixed(1)} GFLOP/s`,
    );
  // The pipeline's workers run 1 BLAS thread: the ratio there is what merging would save.
  const at1 = (m: string) =>
    epochs.find((r) => r.dim === dims[0] && r.threads === 1 && r.mode === m);
  const factor = (at1('batched')?.min ?? 1) / (at1('one at a time')?.min ?? 1);
  const schedule = studyGrouping('docs/paper-3seed/results.json', factor);
  results.batch = { epochs, gemm, blas: core, schedule, sgemmPeak1: peak1 };
  log(
    `\n## The three heads (1L, 2L, LRL; h = 256; 60k rows, batch 1000), seconds per epoch of all three; min / median of ${repeats}\n`,
  );
  log(
    table(
      [
        'input dim',
        'BLAS threads',
        'one at a time, JS gather',
        'one at a time',
        'batched',
        'batched / one at a time (min)',
        'sgemm calls only',
        'GFLOP/s one at a time / sgemm only',
      ],
      [...new Set(epochs.map((r) => `${r.dim}/${r.threads}`))].map((k) => {
        const rs = epochs.filter((r) => `${r.dim}/${r.threads}` === k);
        const at = (m: string) => rs.find((r) => r.mode === m)!;
        const cell = (m: string) => `${at(m).min.toFixed(3)} / ${at(m).median.toFixed(3)}`;
        return [
          rs[0].dim,
          rs[0].threads,
          cell('one at a time, JS gather'),
          cell('one at a time'),
          cell('batched'),
          (at('batched').min / at('one at a time').min).toFixed(3),
          cell('sgemm calls only'),
          `${at('one at a time').gflops.toFixed(1)} / ${at('sgemm calls only').gflops.toFixed(1)}`,
        ];
      }),
    ),
  );
  log(
    `\n## The heads' first layers (batch 1000 × 3 × 256) as one concatenated product vs three: ms per step, outputs not bit-equal (${core ?? 'no addon'})\n`,
  );
  log(
    table(
      ['input dim', 'BLAS threads', 'product', 'three products ms', 'one product ms', 'differ'],
      gemm.map((r) => [
        r.dim,
        r.threads,
        r.product,
        r.separateMs,
        r.concatenatedMs,
        `${r.differ} of ${r.of}`,
      ]),
    ),
  );
  if (schedule) {
    log(
      `\n## ${schedule.run} (${schedule.stages} stages) re-simulated: wall clock with each code dataset's three heads as one job costing ${factor.toFixed(3)} × their sum (the min ratio above, ${dims[0]}-d, 1 BLAS thread)\n`,
    );
    log(
      table(
        [
          'worker slots',
          'heads separate s',
          'heads as one job s',
          'critical path separate / one job s',
        ],
        schedule.rows.map((r) => [
          r.slots,
          r.separate.toFixed(0),
          r.grouped.toFixed(0),
          `${r.criticalPath.separate.toFixed(0)} / ${r.criticalPath.grouped.toFixed(0)}`,
        ]),
      ),
    );
  }
}

/** A finished run's stage seconds (results.json of a reproduce run), re-simulated. */
function studyGrouping(path: string, factor: number) {
  if (!existsSync(path)) return null;
  const run = JSON.parse(readFileSync(path, 'utf8')) as {
    timings: Record<string, number>;
    settings: Preset;
    datasets?: DatasetName[];
  };
  const seeds = run.settings.seeds;
  const defs = buildGraph(['mnist', 'fashion-mnist'], run.settings, seeds).filter(
    (d) => d.name in run.timings,
  );
  const stages = defs.map((d) => ({ name: d.name, deps: d.deps, seconds: run.timings[d.name] }));
  return { run: path, stages: stages.length, rows: simulateGrouping(stages, factor, [2, 4, 8]) };
}

if (want('eval')) {
  // Evaluation attacks on a trained LRL (issue 17 item 3): the same model files, points and
  // settings on both sides (bench/eval-stages.ts declares them; PyTorch gets them as JSON).
  const ds = await loadDataset('mnist', { dataDir });
  const clf = await evalModel(dataDir);
  const stages = evalStages(evalN, evalEps);
  const torch = torchEval(stages);
  const robust: Record<string, number> = {};
  const rows = evalWorkloads(clf, ds, evalN, stages, robust).map((w) => {
    const t = time(() => w.run(), { warmup: 1, repeats });
    const py = torch?.seconds[w.name] ?? null;
    log(`  ${w.name}: ${t.median.toFixed(3)} s`);
    return {
      stage: w.name,
      robustlab: t.median,
      pytorch: py,
      pytorchThreads: torch?.config[w.name] ?? null,
      ratio: py ? t.median / py : null,
      robustAccuracy: { robustlab: robust[w.name], pytorch: torch?.robust[w.name] ?? null },
    };
  });
  clf.dispose();
  results.eval = {
    n: evalN,
    eps: evalEps,
    model: EVAL_MODEL_DIR,
    rows,
    torch: torch ? { version: torch.torch, probes: torch.probes } : null,
  };
  log(
    `\n## Evaluation attacks, robustlab vs PyTorch ${torch ? `${torch.torch} (at the thread setting its probe found fastest)` : '(absent)'}; ${evalN} MNIST test points, LRL\n`,
  );
  log(
    table(
      [
        'stage',
        'robustlab s',
        'PyTorch s',
        'PyTorch threads',
        'ratio',
        'robust acc robustlab / PyTorch',
      ],
      rows.map((r) => [
        r.stage,
        r.robustlab,
        r.pytorch ?? '—',
        r.pytorchThreads ?? '—',
        r.ratio === null ? '—' : r.ratio.toFixed(2),
        `${(100 * r.robustAccuracy.robustlab).toFixed(1)}% / ${r.robustAccuracy.pytorch === null ? '—' : (100 * r.robustAccuracy.pytorch).toFixed(1) + '%'}`,
      ]),
    ),
  );
}

if (want('wasm')) {
  // The pure wasm path in a process of its own (ROBUSTLAB_NATIVE=0: no native kernel installed,
  // its own wasm heap), the same workloads, against the same PyTorch numbers.
  const ds = await loadDataset('mnist', { dataDir });
  const stageNames = workloads(ds).map((w) => w.name);
  const stages = evalStages(evalN, evalEps);
  (await evalModel(dataDir)).dispose(); // trained here (native trainer) if missing
  const torch = torchStages(stageNames);
  const torchE = torchEval(stages);
  log(`\nrunning the stages on the pure wasm path (bench/wasm-path.ts, addon off)...`);
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/wasm-path.ts',
      '--data-dir',
      dataDir,
      '--repeats',
      values['wasm-repeats']!,
      '--eval-n',
      String(evalN),
      '--eval-eps',
      evalEps.join(','),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      env: { ...process.env, ROBUSTLAB_NATIVE: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (child.status !== 0) throw new Error(`bench/wasm-path.ts failed (exit ${child.status})`);
  const w = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as WasmPathOut;
  const row = (name: string, t: { median: number; min: number }, py: TorchBest | null) => {
    const p = py?.seconds[name] ?? null;
    return {
      stage: name,
      wasm: t.median,
      wasmMin: t.min,
      pytorch: p,
      ratio: p ? t.median / p : null,
    };
  };
  const rows: (ReturnType<typeof row> & { robustAccuracy?: number })[] = [
    ...Object.entries(w.stages).map(([k, t]) => row(k, t, torch)),
    ...Object.entries(w.eval).map(([k, t]) => ({
      ...row(k, t, torchE),
      robustAccuracy: t.robustAccuracy,
    })),
  ];
  results.wasm = { threads: w.threads, repeats: Number(values['wasm-repeats']), rows };
  log(
    `\n## The stages on the pure wasm path (native addon off; wasm threads: ${w.threads}) vs PyTorch ${torch?.torch ?? '(absent)'} at its best thread setting; ratio = wasm / PyTorch\n`,
  );
  log(
    table(
      [
        'stage',
        'wasm s (median)',
        'wasm s (min)',
        'PyTorch s',
        'ratio',
        'robust acc wasm / PyTorch',
      ],
      rows.map((r) => [
        r.stage,
        r.wasm,
        r.wasmMin,
        r.pytorch ?? '—',
        r.ratio === null ? '—' : r.ratio.toFixed(2),
        r.robustAccuracy !== undefined
          ? `${(100 * r.robustAccuracy).toFixed(1)}% / ${torchE?.robust[r.stage] === undefined ? '—' : (100 * torchE.robust[r.stage]).toFixed(1) + '%'}`
          : '',
      ]),
    ),
  );
}

// After the stages: the pure-wasm epochs grow the wasm heap to several GB, and the process
// runs the stages up to 2x slower after that (measured), so they go last of the timed parts.
if (want('epoch')) {
  log('\n## Seconds per MNIST training epoch (wasm, batch 1000, h=256): matmul fix on/off\n');
  const rows = await benchEpochs(dataDir, { repeats });
  results.epoch = rows;
  const by = (arch: string, fix: boolean) =>
    rows.find((r) => r.arch === arch && r.matmulFix === fix)!;
  log(
    table(
      ['arch', 's/epoch with fix', 's/epoch without fix', 'speed-up', 'GFLOP/s with fix'],
      [...new Set(rows.map((r) => r.arch))].map((a) => [
        a,
        by(a, true).secondsPerEpoch,
        by(a, false).secondsPerEpoch,
        `${(by(a, false).secondsPerEpoch / by(a, true).secondsPerEpoch).toFixed(1)}x`,
        by(a, true).gflops,
      ]),
    ),
  );
}

if (want('memory')) {
  const p = 'runs/paper/results.json';
  if (existsSync(p)) {
    const r = JSON.parse(readFileSync(p, 'utf8'));
    results.memory = {
      peakRssMiB: r.peakRssMiB ?? null,
      wallSeconds: r.wallSeconds,
      preset: r.preset,
    };
    log(
      `\n## reproduce --preset paper: peak RSS ${r.peakRssMiB ?? 'not recorded'} MiB, wall ${Math.round(r.wallSeconds)} s (from ${p})`,
    );
  } else {
    log(
      `\nmemory: no ${p}; run \`robustlab reproduce --preset paper --dataset mnist --out runs/paper\` first`,
    );
  }
}

if (want('study')) studyTable('runs/paper/results.json', 'bench/results');

/** robustlab's paper run vs bench/pytorch_study.py, per kind of stage (classifier, codes, …). */
function studyTable(runPath: string, dir: string): void {
  const files = existsSync(dir)
    ? readdirSync(dir).filter((f) => /^pytorch-study.*\.json$/.test(f))
    : [];
  if (!existsSync(runPath) || files.length === 0) {
    log(
      `\nstudy: needs ${runPath} (robustlab reproduce --preset paper --out runs/paper) and ` +
        `${dir}/pytorch-study*.json (/usr/bin/python3 bench/pytorch_study.py --out ...)`,
    );
    return;
  }
  const run = JSON.parse(readFileSync(runPath, 'utf8')) as {
    wallSeconds: number;
    totalStageSeconds: number;
    timings: Record<string, number>;
    workers: number;
  };
  // Several PyTorch files (e.g. one process per dataset, run side by side): stage seconds add
  // up; the wall clock is the longest (they ran at once).
  // Stage names carry their seed (`.../seed0`); PyTorch's script runs one seed: compare seed 0.
  run.timings = Object.fromEntries(
    Object.entries(run.timings)
      .filter(([k]) => !/\/seed\d+$/.test(k) || k.endsWith('/seed0'))
      .map(([k, v]) => [k.replace(/\/seed0$/, ''), v]),
  );
  const py = files.map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
  const pySec: Record<string, number> = Object.assign({}, ...py.map((p) => p.seconds));
  const pyWall = Math.max(...py.map((p) => p.wall as number));
  const kinds = [...new Set(Object.keys(run.timings).map((k) => k.split('/')[0]))];
  const sum = (o: Record<string, number>, kind?: string) =>
    Object.entries(o)
      .filter(([k]) => (kind ? k.startsWith(kind + '/') : true) && k in run.timings)
      .reduce((a, [, v]) => a + v, 0);
  const missing = Object.keys(run.timings).filter((k) => !(k in pySec));
  const rows = kinds.map((k) => {
    const r = sum(run.timings, k);
    const p = sum(pySec, k);
    return [k, r.toFixed(0), p.toFixed(0), (r / p).toFixed(2)];
  });
  const rTot = sum(run.timings);
  const pTot = sum(pySec);
  rows.push([
    'all stages (sum of stage seconds)',
    rTot.toFixed(0),
    pTot.toFixed(0),
    (rTot / pTot).toFixed(2),
  ]);
  rows.push([
    'wall clock, both datasets',
    run.wallSeconds.toFixed(0),
    pyWall.toFixed(0),
    (run.wallSeconds / pyWall).toFixed(2),
  ]);
  results.study = {
    robustlab: { wallSeconds: run.wallSeconds, stageSeconds: rTot, workers: run.workers },
    pytorch: {
      files,
      wallSeconds: pyWall,
      stageSeconds: pTot,
      threads: py.map((p) => p.threads),
      torch: py[0].torch,
    },
    missingInPytorch: missing,
  };
  log(
    `\n## Full --preset paper study: robustlab (${runPath}, ${run.workers} workers) vs PyTorch (${files.join(', ')}); seconds\n`,
  );
  log(table(['stages', 'robustlab s', 'PyTorch s', 'ratio'], rows));
  if (missing.length)
    log(
      `(${missing.length} robustlab stages have no PyTorch time: ${missing.slice(0, 5).join(', ')}…)`,
    );
}

mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify(results, null, 2) + '\n');
if (values.json) console.log(JSON.stringify(results, null, 2));
