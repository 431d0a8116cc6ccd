import { basename, join } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { NORMS } from '../../attacks/norms.js';
import { SPECTRAL_MODES, type SpectralMode } from '../../defences/spectral.js';
import { ADAPTIVE_DEFAULTS, PROJECTION_ATTACKS } from '../../evaluation/adaptive.js';
import { ATTACK_NAMES, ENSEMBLES } from '../../evaluation/registry.js';
import { wilson95 } from '../../evaluation/robust-accuracy.js';
import {
  DEFAULT_EVAL_EPS,
  parseCurve,
  runEvaluateJob,
  type EvaluationRecord,
} from '../../experiments/evaluate-job.js';
import { writeFigure } from '../../report/render.js';
import { securityCurveSvg } from '../../report/security-curve.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { choiceOpt, helpRequested, intOpt, numOpt, output, parse, requireOpt } from '../args.js';

const HELP = `usage: robustlab evaluate --model DIR [--norm linf|l2] [--eps E] [--attacks autoattack|pgd,cw,...]
                         [--n 1000] [--curve 0:0.05:0.5] [--seed S] [--save-adversarials DIR]

Robust accuracy of a saved classifier at a budget ε, end to end in pixels on the first n MNIST
test images: clean accuracy, the worst case per example over every attack (each runs only on
the points still robust), a record per attack (settings, points broken, time, passes), the
reliability checks (pass/warn/fail with their numbers), and a security curve (SVG and PNG).
Latent classifiers are attacked through their encoder (VAE: EOT over the stochastic code,
judged over fresh draws) or through their projection (implicit gradient or BPDA).

options:
  --model DIR        a classifier directory                                   (required)
  --norm N           linf (default) | l2
  --eps E            default ${DEFAULT_EVAL_EPS.linf} for linf, ${DEFAULT_EVAL_EPS.l2} for l2 (MNIST conventions; also common: 0.1 / 1.0)
  --attacks A        ${ENSEMBLES.join(' | ')} (default autoattack) | a comma-separated list of:
                     ${ATTACK_NAMES.join(', ')}
  --n N              test points (default 1000, the first N of the test split)
  --curve A:S:B      also run the bounded attacks at ε = A, A+S, ..., B (each on all points)
  --seed S           default 0
  --save-adversarials DIR   adversarials.npy (float32 [n,28,28]), labels.npy, predicted.npy (int32),
                     one PNG per example, index.json
  --out DIR          where the figure and evaluation.json go (default runs/evaluate/<model>-<norm>-<eps>)
  --projection P     projection spaces: ${PROJECTION_ATTACKS.join(' | ')} (default ${ADAPTIVE_DEFAULTS.projection})
  --eot K            EOT draws per gradient, stochastic models (default ${ADAPTIVE_DEFAULTS.eot})
  --draws K          fresh draws judging each point, stochastic models (default ${ADAPTIVE_DEFAULTS.draws})
  --spectral M:F     evaluate the spectral defence of an image model: ${SPECTRAL_MODES.join('|')}:fraction, e.g. zero:0.4
  --transfer-from DIR  an undefended image classifier, for the transfer check
  --check-subset N   points for the checks that attack again (default 100; 0 = no checks)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(
    argv,
    {
      model: { type: 'string' },
      norm: { type: 'string' },
      eps: { type: 'string' },
      attacks: { type: 'string' },
      n: { type: 'string' },
      curve: { type: 'string' },
      seed: { type: 'string' },
      'save-adversarials': { type: 'string' },
      out: { type: 'string' },
      projection: { type: 'string' },
      eot: { type: 'string' },
      draws: { type: 'string' },
      spectral: { type: 'string' },
      'transfer-from': { type: 'string' },
      'check-subset': { type: 'string' },
    },
    false,
    'evaluate',
  );
  if (helpRequested(v, HELP)) return;
  const modelDir = requireOpt('model', v.model);
  const norm = choiceOpt('norm', v.norm, NORMS, 'linf');
  const eps = numOpt('eps', v.eps, DEFAULT_EVAL_EPS[norm], 0, norm === 'linf' ? 1 : 28);
  const curve = v.curve === undefined ? undefined : parseCurve(v.curve);
  let spectral;
  if (v.spectral !== undefined) {
    const [mode, frac] = v.spectral.split(':');
    spectral = {
      mode: choiceOpt('spectral', mode, SPECTRAL_MODES, 'zero') as SpectralMode,
      fraction: numOpt('spectral', frac ?? '', 0, 0, 1),
    };
  }
  const seed = intOpt('seed', v.seed, 0);
  await initBackend({ backend: v.backend });
  const { record } = await runEvaluateJob({
    modelDir,
    norm,
    eps,
    attacks: v.attacks,
    n: intOpt('n', v.n, 1000, 1),
    seed,
    curve,
    dataDir: v['data-dir'],
    projection: choiceOpt(
      'projection',
      v.projection,
      PROJECTION_ATTACKS,
      ADAPTIVE_DEFAULTS.projection,
    ),
    eot: intOpt('eot', v.eot, ADAPTIVE_DEFAULTS.eot, 1),
    draws: intOpt('draws', v.draws, ADAPTIVE_DEFAULTS.draws, 1),
    spectral,
    transferFrom: v['transfer-from'],
    checkSubset: intOpt('check-subset', v['check-subset'], 100, 0),
    saveAdversarials: v['save-adversarials'],
    silent: v.quiet || v.json,
  });
  const out =
    v.out ?? join('runs', 'evaluate', `${basename(modelDir.replace(/\/+$/, ''))}-${norm}-${eps}`);
  const fig = await writeFigure(
    join(out, 'security-curve'),
    securityCurveSvg({
      title: `${record.dataset} ${record.space} ${record.arch}: robust accuracy vs ε (${norm === 'linf' ? 'L∞' : 'L2'}, n = ${record.n})`,
      norm,
      eps,
      cleanAccuracy: record.cleanAccuracy,
      robustAccuracy: record.robustAccuracy,
      bounded: record.curve.bounded ?? undefined,
      fromDistances: record.curve.fromDistances ?? undefined,
    }),
  );
  const full = { ...record, figure: fig };
  writeJsonAtomic(join(out, 'evaluation.json'), full);
  output(v.json, full, () => table(record, fig));
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function table(r: EvaluationRecord, fig: { svg: string; png: string }): string {
  const [lo, hi] = r.robustAccuracyCi95;
  const [clo, chi] = wilson95(r.cleanAccuracy, r.n);
  const lines = [
    `${r.dataset} ${r.space} ${r.arch}: ${r.threatModel} ε = ${r.eps}, n = ${r.n} (first test points), seed ${r.seed}`,
    `attack: ${r.attack}; ${r.adaptive.description}`,
    `clean accuracy   ${pct(r.cleanAccuracy)}  95% CI [${pct(clo)}, ${pct(chi)}]`,
    '',
    'attack      kind       ran on   broke  robust after    time   forward   backward',
    ...r.attacks.map(
      (a) =>
        `${a.name.padEnd(11)} ${a.kind.padEnd(9)} ${String(a.attacked).padStart(7)} ${String(a.broke).padStart(7)} ${pct(a.robustAccuracyAfter).padStart(13)} ${(a.seconds.toFixed(1) + ' s').padStart(8)} ${String(a.forwards).padStart(9)} ${String(a.backwards).padStart(10)}` +
        (a.outOfBudget ? `  (${a.outOfBudget} out of budget, projected)` : '') +
        (a.medianDistance !== undefined && Number.isFinite(a.medianDistance)
          ? `  median distance ${a.medianDistance.toFixed(3)}`
          : ''),
    ),
    '',
    `robust accuracy  ${pct(r.robustAccuracy)}  95% CI [${pct(lo)}, ${pct(hi)}]` +
      (r.draws > 1
        ? `  (mean over ${r.draws} draws; per draw ${(Math.min(...r.robustAccuracyDraws) * 100) | 0}–${(Math.max(...r.robustAccuracyDraws) * 100).toFixed(0)}%)`
        : ''),
    `passes: ${r.passes.forwards} forward, ${r.passes.backwards} backward rows; ${r.seconds.toFixed(1)} s`,
  ];
  if (r.curve.bounded)
    lines.push(
      'curve (bounded attacks at each ε): ' +
        r.curve.bounded.map((p) => `${p.eps}: ${pct(p.robustAccuracy)}`).join(', '),
    );
  if (r.checks.length) {
    lines.push('', 'checks:');
    for (const c of r.checks)
      lines.push(`  ${c.status.toUpperCase().padEnd(4)}  ${c.id.padEnd(13)} ${c.detail}`);
  }
  lines.push('', `figure: ${fig.svg}, ${fig.png}`);
  if (r.adversarials)
    lines.push(`adversarials: ${r.adversarials.images} (+ labels.npy, predicted.npy, png/)`);
  return lines.join('\n');
}
