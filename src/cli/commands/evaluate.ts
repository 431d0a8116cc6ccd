import { basename, join } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { NORMS } from '../../attacks/norms.js';
import { SPECTRAL_MODES, type SpectralMode } from '../../defences/spectral.js';
import { ADAPTIVE_DEFAULTS, PROJECTION_ATTACKS } from '../../evaluation/adaptive.js';
import { ATTACK_NAMES, ENSEMBLES } from '../../evaluation/registry.js';
import { wilson95 } from '../../evaluation/robust-accuracy.js';
import {
  DEFAULT_EVAL_EPS,
  runEvaluateJob,
  type EvaluationRecord,
} from '../../experiments/evaluate-job.js';
import { writeFigure } from '../../report/render.js';
import { securityCurveSvg } from '../../report/security-curve.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { RobustlabError } from '../../data/errors.js';
import { readModelMeta } from '../../models/io.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  MAX_TEST,
  num,
  numbers,
  output,
  parseOptions,
  path,
  refuseInapplicable,
  required,
  SEED_OPTION,
  str,
} from '../args.js';
import { checkFilesOut, hasMagic, readJsonOrNull } from '../outputs.js';

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
  --eps E            default ${DEFAULT_EVAL_EPS.linf} for linf (in [0, 1]), ${DEFAULT_EVAL_EPS.l2} for l2 (in [0, 28]): the MNIST
                     conventions; the other common budgets are 0.1 (linf) and 1.0 (l2)
  --attacks A        ${ENSEMBLES.join(' | ')} (default autoattack) | a comma-separated list of:
                     ${ATTACK_NAMES.join(', ')}
  --n N              test points, 1..${MAX_TEST} (default 1000: the first N of the test split)
  --curve A:S:B      also run the bounded attacks at ε = A, A+S, ..., B (or a comma list), each
                     on all points
  --seed S           0..4294967295 (default 0)
  --save-adversarials DIR   adversarials.npy (float32 [n,28,28]), labels.npy, predicted.npy
                     (int32 [n]), one PNG per example, index.json
  --out DIR          figure and evaluation.json (default runs/evaluate/<model>-<norm>-<eps>)
  --projection P     projection spaces only: ${PROJECTION_ATTACKS.join(' | ')} (default ${ADAPTIVE_DEFAULTS.projection})
  --eot K            VAE-encoding only: EOT draws per gradient (default ${ADAPTIVE_DEFAULTS.eot})
  --draws K          VAE-encoding only: fresh draws judging each point (default ${ADAPTIVE_DEFAULTS.draws})
  --spectral M:F     image models only: evaluate the spectral defence, ${SPECTRAL_MODES.join('|')}:fraction (e.g. zero:0.4)
  --transfer-from DIR  an undefended image classifier, for the transfer check
  --check-subset N   points for the checks that attack again (default 100; 0 = no checks)
common: --json --quiet --backend --data-dir --help`;

export const OPTIONS = {
  model: path({ help: 'a classifier directory (required)' }),
  norm: choice(NORMS, { default: 'linf' }),
  eps: num({ min: 0, max: 28, help: 'budget (default 0.3 for linf, 2.0 for l2)' }),
  attacks: str({ default: 'autoattack', help: 'autoattack | autoattack-rand | a comma list' }),
  n: int({ min: 1, max: MAX_TEST, default: 1000, help: 'the first N test points' }),
  curve: numbers({ min: 0, max: 28, maxLength: 201, ranges: true, help: 'ε grid for the curve' }),
  ...SEED_OPTION,
  'save-adversarials': path({ help: 'write adversarials.npy, labels.npy, PNGs here' }),
  out: path({ help: 'figure and evaluation.json (default runs/evaluate/<model>-<norm>-<eps>)' }),
  projection: choice(PROJECTION_ATTACKS, { help: 'projection spaces only' }),
  eot: int({ min: 1, max: 1000, help: 'EOT draws per gradient, stochastic models only' }),
  draws: int({ min: 1, max: 1000, help: 'judge draws, stochastic models only' }),
  spectral: str({ metavar: 'MODE:F', help: 'spectral defence of an image model, e.g. zero:0.4' }),
  'transfer-from': path({ help: 'an undefended image classifier, for the transfer check' }),
  'check-subset': int({ min: 0, max: MAX_TEST, default: 100, help: '0 = no checks' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

/** Is this evaluation.json one that 'robustlab evaluate' wrote? */
function isEvaluationJson(p: string): boolean {
  return (readJsonOrNull(p) as { command?: unknown } | null)?.command === 'evaluate';
}

export async function run(argv: string[]): Promise<void> {
  const { values: v, given } = parseOptions(argv, OPTIONS, { command: 'evaluate' });
  if (helpRequested(v, HELP)) return;
  const modelDir = required('model', v.model);
  const norm = v.norm;
  const eps = v.eps ?? DEFAULT_EVAL_EPS[norm];
  if (norm === 'linf' && eps > 1)
    throw new RobustlabError(`--eps must be a number in [0, 1] for --norm linf (got '${eps}')`);
  const curve = v.curve;
  let spectral;
  if (v.spectral !== undefined) {
    const [mode, frac] = v.spectral.split(':');
    const fraction = Number(frac);
    if (
      !(SPECTRAL_MODES as readonly string[]).includes(mode) ||
      !(fraction >= 0 && fraction <= 1) ||
      frac?.trim() === ''
    )
      throw new RobustlabError(
        `--spectral must be MODE:FRACTION with MODE one of ${SPECTRAL_MODES.join(', ')} and FRACTION in [0, 1] (got '${v.spectral}')`,
      );
    spectral = { mode: mode as SpectralMode, fraction };
  }
  const meta = readModelMeta(modelDir);
  if (meta.kind !== 'classifier')
    throw new RobustlabError(`${modelDir}: is a ${meta.kind} model, not a classifier`);
  if (!meta.space.endsWith('projection'))
    refuseInapplicable(given, ['projection'], `here: ${modelDir} is not a projection-space model`);
  if (meta.space !== 'vae-encoding')
    refuseInapplicable(
      given,
      ['eot', 'draws'],
      `here: ${modelDir} is not a stochastic (VAE-encoding) model`,
    );
  if (meta.space !== 'image')
    refuseInapplicable(given, ['spectral'], `here: the spectral defence is for image-space models`);
  const out =
    v.out ?? join('runs', 'evaluate', `${basename(modelDir.replace(/\/+$/, ''))}-${norm}-${eps}`);
  const log = v.quiet ? undefined : (l: string) => process.stderr.write(l + '\n');
  checkFilesOut(
    out,
    ['evaluation.json', 'security-curve.svg', 'security-curve.png'],
    'evaluation output',
    (p) =>
      p.endsWith('.json') ? isEvaluationJson(p) : isEvaluationJson(join(out, 'evaluation.json')),
    { log },
  );
  if (v['save-adversarials'])
    checkFilesOut(
      v['save-adversarials'],
      ['index.json', 'adversarials.npy', 'labels.npy', 'predicted.npy'],
      'adversarials output',
      (p) =>
        p.endsWith('.npy')
          ? hasMagic(p, '\x93NUMPY')
          : typeof (readJsonOrNull(p) as { brokenBy?: unknown } | null)?.brokenBy === 'object',
      { flag: '--save-adversarials', log },
    );
  const seed = v.seed;
  await initBackend({ backend: v.backend });
  const { record } = await runEvaluateJob({
    modelDir,
    norm,
    eps,
    attacks: v.attacks,
    n: v.n,
    seed,
    curve,
    dataDir: v['data-dir'],
    projection: v.projection ?? ADAPTIVE_DEFAULTS.projection,
    eot: v.eot ?? ADAPTIVE_DEFAULTS.eot,
    draws: v.draws ?? ADAPTIVE_DEFAULTS.draws,
    spectral,
    transferFrom: v['transfer-from'],
    checkSubset: v['check-subset'],
    saveAdversarials: v['save-adversarials'],
    silent: v.quiet,
  });
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
