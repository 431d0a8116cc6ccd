/**
 * `npm run crosscheck -- [--model DIR] [--n 1000] [--eps 0.02,0.05,0.1,0.3] [--json]`
 *
 * Independent cross-check of robustlab's PGD and APGD-CE (issue 13): the same saved weights and
 * the same first N MNIST test points, attacked by robustlab and by a plain-PyTorch script that
 * shares no code with it (bench/pytorch_crosscheck.py: it parses the tfjs model files and the
 * IDX data itself; its APGD follows fra31/auto-attack step for step). Robust accuracies must
 * agree within --tolerance (default 0.01 = 1 point) at every ε; exit 1 otherwise.
 *
 * Both sides: PGD L∞ with 100 steps of 2.5·ε/100, 1 random start, stop at the first
 * misclassified iterate; APGD-CE with 100 iterations, 1 restart, ρ = 0.75. The random draws
 * differ (tfjs vs torch generators), so per-example verdicts may differ on a few borderline
 * points; the per-example disagreement count is printed beside the accuracies.
 * PyTorch runs twice: float64 (asserted: like robustlab's losses, whose logit gradient is formed
 * in float64 on the host, it keeps the true-class term of the CE gradient on very confident
 * points) and float32 (the reference's precision, shown for comparison).
 * The model: `robustlab train classifier --dataset mnist --arch LRL --out runs/crosscheck/mnist-image-LRL-s0`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/node-io.js';
import { apgd } from '../src/attacks/apgd.js';
import { hostRowNorms } from '../src/attacks/norms.js';
import type { AttackResult } from '../src/attacks/base.js';
import { MlpClassifier, parseArch, predict } from '../src/models/classifier.js';
import { loadModel } from '../src/models/io.js';
import { pgd } from '../src/attacks/pgd.js';
import { findTorchPython } from './torch-search.js';
import { table } from './util.js';

const DEFAULT_MODEL = 'runs/crosscheck/mnist-image-LRL-s0';
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: DEFAULT_MODEL },
    n: { type: 'string', default: '1000' },
    eps: { type: 'string', default: '0.02,0.05,0.1,0.3' },
    steps: { type: 'string', default: '100' },
    seed: { type: 'string', default: '0' },
    tolerance: { type: 'string', default: '0.01' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'usage: npm run crosscheck -- [--model DIR] [--n 1000] [--eps 0.02,0.05,0.1,0.3] [--steps 100] [--seed 0] [--tolerance 0.01] [--data-dir D] [--json]',
  );
  process.exit(0);
}
const fail = (msg: string): never => {
  console.error(`robustlab: ${msg}`);
  process.exit(1);
};
const modelDir = values.model!;
if (!existsSync(`${modelDir}/robustlab.json`))
  fail(
    `no model at ${modelDir}; train one with: npx robustlab train classifier --dataset mnist --arch LRL --out ${modelDir}`,
  );
const n = Number(values.n);
const steps = Number(values.steps);
const seed = Number(values.seed);
const tolerance = Number(values.tolerance);
const epsList = values.eps!.split(',').map(Number);
if (!(Number.isInteger(n) && n > 0 && n <= 10000))
  fail(`--n must be in 1..10000 (got ${values.n})`);
if (!(Number.isInteger(steps) && steps > 0)) fail(`--steps must be a positive integer`);
if (epsList.some((e) => !(e > 0 && e < 1))) fail(`--eps must be numbers in (0, 1)`);
const dataDir =
  values['data-dir'] ??
  process.env.ROBUSTLAB_DATA ??
  (await import('../src/testing/fixtures.js')).TEST_DATA_DIR;
const log = (s: string) => (values.json ? process.stderr.write(s + '\n') : console.log(s));

await initBackend({ backend: 'wasm' });
const { meta, parts } = loadModel(modelDir);
if (meta.kind !== 'classifier' || meta.space !== 'image')
  fail(`${modelDir}: need an image-space classifier (got ${meta.kind}, ${meta.space})`);
const clf = new MlpClassifier(parseArch(meta.arch ?? 'LRL'), parts.model);
const ds = await loadDataset('mnist', { dataDir });
const x = ds.test.images.subarray(0, n * 784);
const y = ds.test.labels.subarray(0, n);

const cleanLabels = predict(clf, x, n).labels;
const cleanCorrect = Uint8Array.from(cleanLabels, (v, i) => (v === y[i] ? 1 : 0));

/** Robust per point: clean-correct and not broken by a re-checked adversarial within ε. */
function robustFlags(r: AttackResult, eps: number): Uint8Array {
  const dist = hostRowNorms(r.xAdv, x, n, 784, 'linf');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let inBox = true;
    for (let j = i * 784; j < (i + 1) * 784 && inBox; j++) inBox = r.xAdv[j] >= 0 && r.xAdv[j] <= 1;
    const broken = r.finalLabel[i] !== y[i] && dist[i] <= eps + 1e-6 && inBox;
    out[i] = cleanCorrect[i] && !broken ? 1 : 0;
  }
  return out;
}
const mean = (f: Uint8Array) => f.reduce((s, v) => s + v, 0) / f.length;

log(`robustlab on ${modelDir}, first ${n} MNIST test points...`);
const ours: { eps: number; pgd: Uint8Array; apgd: Uint8Array; seconds: number }[] = [];
for (const eps of epsList) {
  const t0 = performance.now();
  const rp = pgd(clf, x, n, y, {
    eps,
    norm: 'linf',
    steps,
    stepSize: (2.5 * eps) / steps,
    restarts: 1,
    seed,
    silent: true,
  });
  const ra = apgd(clf, x, n, y, { eps, norm: 'linf', steps, restarts: 1, seed, silent: true });
  ours.push({
    eps,
    pgd: robustFlags(rp, eps),
    apgd: robustFlags(ra, eps),
    seconds: (performance.now() - t0) / 1000,
  });
  log(`  ε = ${eps}: PGD ${mean(ours.at(-1)!.pgd)}, APGD-CE ${mean(ours.at(-1)!.apgd)}`);
}
clf.dispose();

const python = findTorchPython();
if (!python)
  fail('PyTorch not found (python3 -c "import torch" failed); apt-get install python3-torch');
interface TorchSide {
  torch: string;
  dtype: string;
  clean: number;
  results: {
    eps: number;
    pgd: number;
    apgd_ce: number;
    pgd_flags: string;
    apgd_ce_flags: string;
  }[];
}
function runPytorch(dtype: 'float32' | 'float64'): TorchSide {
  log(`PyTorch, ${dtype} (${python} bench/pytorch_crosscheck.py --dtype ${dtype})...`);
  const r = spawnSync(
    python!,
    [
      'bench/pytorch_crosscheck.py',
      ...['--model', modelDir, '--data-dir', dataDir, '--n', String(n), '--eps', epsList.join(',')],
      ...['--pgd-steps', String(steps), '--apgd-steps', String(steps), '--seed', String(seed)],
      ...['--dtype', dtype],
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TORCH_THREADS: '1' } },
  );
  if (r.status !== 0) fail(`the PyTorch cross-check failed: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TorchSide;
}
// The assertion is against float64 PyTorch: robustlab's losses form the logit gradient on the
// host in float64 (exact even when p_true rounds to 1 in float32), so float64 PyTorch is the
// like-for-like computation; float32 PyTorch (the reference's own precision) is shown beside.
const against = runPytorch('float64');
const f32 = runPytorch('float32');

const differ = (a: Uint8Array, b: string) =>
  a.reduce((s, v, i) => s + (v !== Number(b[i]) ? 1 : 0), 0);
const fmtDelta = (d: number) => (d + 0).toFixed(1).replace(/^-0\.0$/, '0.0');
const rows = ours.map((o, k) => {
  const t = against.results[k];
  const t32 = f32.results[k];
  const p = mean(o.pgd);
  const a = mean(o.apgd);
  return {
    eps: o.eps,
    robustlab: { pgd: p, apgdCe: a },
    pytorchFloat64: { pgd: t.pgd, apgdCe: t.apgd_ce },
    pytorchFloat32: { pgd: t32.pgd, apgdCe: t32.apgd_ce },
    deltaPoints: { pgd: 100 * (p - t.pgd), apgdCe: 100 * (a - t.apgd_ce) },
    perExampleDisagreements: {
      pgd: differ(o.pgd, t.pgd_flags),
      apgdCe: differ(o.apgd, t.apgd_ce_flags),
    },
    robustlabSeconds: o.seconds,
  };
});
const ok = rows.every(
  (w) =>
    Math.abs(w.deltaPoints.pgd) <= 100 * tolerance + 1e-9 &&
    Math.abs(w.deltaPoints.apgdCe) <= 100 * tolerance + 1e-9,
);
const pct = (v: number) => (100 * v).toFixed(1) + '%';
log(
  `\n## Cross-check: robust accuracy (L∞, ${n} MNIST test points, ${modelDir}), robustlab vs PyTorch ${against.torch}; Δ and 'differ' (per-point verdicts) against PyTorch float64\n`,
);
log(
  table(
    [
      'ε',
      'PGD robustlab',
      'PyTorch f64',
      'Δ points',
      'differ',
      'PyTorch f32',
      'APGD-CE robustlab',
      'PyTorch f64',
      'Δ points',
      'differ',
      'PyTorch f32',
    ],
    rows.map((w) => [
      String(w.eps),
      pct(w.robustlab.pgd),
      pct(w.pytorchFloat64.pgd),
      fmtDelta(w.deltaPoints.pgd),
      String(w.perExampleDisagreements.pgd),
      pct(w.pytorchFloat32.pgd),
      pct(w.robustlab.apgdCe),
      pct(w.pytorchFloat64.apgdCe),
      fmtDelta(w.deltaPoints.apgdCe),
      String(w.perExampleDisagreements.apgdCe),
      pct(w.pytorchFloat32.apgdCe),
    ]),
  ),
);
log(
  `\nclean accuracy: robustlab ${pct(mean(cleanCorrect))}, PyTorch ${pct(against.clean)}; ` +
    `${ok ? 'AGREE' : 'DISAGREE'}: every |Δ| ${ok ? '≤' : 'not ≤'} ${100 * tolerance} point(s)`,
);
if (values.json)
  console.log(
    JSON.stringify(
      { model: modelDir, n, tolerance, agree: ok, rows, torch: against.torch },
      null,
      2,
    ),
  );
process.exit(ok ? 0 : 1);
