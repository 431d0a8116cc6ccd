import { initBackend } from '../../backend/backend.js';
import { TARGETED_CE_L2_DEFAULTS } from '../../attacks/targeted-ce-l2.js';
import { ATTACK_MODES, runAttackJob } from '../../experiments/attack-job.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  MAX_TEST,
  num,
  output,
  parseOptions,
  path,
  refuseInapplicable,
  required,
  SEED_OPTION,
} from '../args.js';
import { RobustlabError } from '../../data/errors.js';
import { readModelMeta } from '../../models/io.js';
import { checkFilesOut, hasMagic, readJsonOrNull } from '../outputs.js';

export const MAX_ATTACK_STEPS = 100000;

export const OPTIONS = {
  model: path({ help: 'a classifier directory (required)' }),
  mode: choice(ATTACK_MODES, { default: 'own-space' }),
  n: int({
    min: 1,
    max: MAX_TEST,
    default: 20,
    help: 'correctly classified test inputs (× 9 goals)',
  }),
  lambda: num({ min: 0, max: 1e6, default: TARGETED_CE_L2_DEFAULTS.lambda }),
  optimizer: choice(['ngd', 'sgd', 'adam'] as const, {
    default: TARGETED_CE_L2_DEFAULTS.optimizer,
  }),
  'step-size': num({
    min: 0,
    max: 100,
    minExclusive: true,
    help: 'default depends on --optimizer',
  }),
  'max-steps': int({ min: 1, max: MAX_ATTACK_STEPS, default: TARGETED_CE_L2_DEFAULTS.maxSteps }),
  confidence: num({
    min: 0,
    max: 1,
    minExclusive: true,
    default: TARGETED_CE_L2_DEFAULTS.confidence,
  }),
  'pixel-projection': choice(['implicit', 'encoder'] as const, {
    help: 'pixel-space attack on a projection space only',
  }),
  ...SEED_OPTION,
  'latent-dir': path({ help: 'latent classifiers: where the code datasets are' }),
  out: path({ help: 'write adversarial.rlc and summary.json here' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

/** Is this summary.json one that 'robustlab attack' wrote? */
export function isAttackSummary(p: string): boolean {
  const j = readJsonOrNull(p) as { summary?: unknown; mode?: unknown } | null;
  return !!j && typeof j.summary === 'object' && typeof j.mode === 'string';
}

const HELP = `usage: robustlab attack --model DIR [--mode own-space|pixel-space] [--n 20] [options]

The study's targeted attack on a saved classifier: n correctly classified test inputs × the 9
other classes (180 by default); minimise CE(goal, C(x)) + λ‖x − x̄‖₂ until p(goal) ≥ 0.95.
Reports the study's robustness (mean ‖x_adv − x‖₂/‖x‖₂ over successes), success rate, mean L2
and steps; with --out, also adversarial.rlc (the adversarial inputs) and summary.json.

options:
  --model DIR        a classifier directory                                  (required)
  --mode M           own-space (default; the study's) | pixel-space (latent classifiers only,
                     end to end)
  --n N              correctly classified test inputs, 1..${MAX_TEST} (default 20 → 180 examples)
  --lambda L         in [0, 1e6] (default ${TARGETED_CE_L2_DEFAULTS.lambda})
  --optimizer O      ngd (default: normalised gradient descent) | sgd | adam
  --step-size S      in (0, 100]; default ngd ${TARGETED_CE_L2_DEFAULTS.stepSize.ngd} (L2 length of a step), sgd ${TARGETED_CE_L2_DEFAULTS.stepSize.sgd}, adam ${TARGETED_CE_L2_DEFAULTS.stepSize.adam}
  --max-steps N      1..${MAX_ATTACK_STEPS} (default ${TARGETED_CE_L2_DEFAULTS.maxSteps})
  --confidence P     in (0, 1] (default ${TARGETED_CE_L2_DEFAULTS.confidence})
  --pixel-projection implicit|encoder   only with --mode pixel-space on a projection space:
                     through the projection's implicit gradient (default) or with the encoder
                     as a surrogate
  --seed S           0..4294967295 (default 0)
  --latent-dir DIR   latent classifiers only: where the code datasets are
  --out DIR          write adversarial.rlc and summary.json here (a new or empty directory,
                     or a previous attack output, which is replaced)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v, given } = parseOptions(argv, OPTIONS, { command: 'attack' });
  if (helpRequested(v, HELP)) return;
  const modelDir = required('model', v.model);
  const mode = v.mode;
  const meta = readModelMeta(modelDir);
  if (meta.kind !== 'classifier')
    throw new RobustlabError(`${modelDir}: is a ${meta.kind} model, not a classifier`);
  if (meta.space === 'image') {
    refuseInapplicable(given, ['latent-dir'], `to an image-space classifier (${modelDir})`);
    if (mode === 'pixel-space')
      throw new RobustlabError(
        `--mode pixel-space does not apply to an image-space classifier (${modelDir}): its own space is pixels`,
      );
  }
  if (!(mode === 'pixel-space' && meta.space.endsWith('projection')))
    refuseInapplicable(
      given,
      ['pixel-projection'],
      `here: it is for --mode pixel-space on a projection-space classifier (${modelDir} is ${meta.space}, --mode ${mode})`,
    );
  const optimizer = v.optimizer;
  const attack = {
    lambda: v.lambda,
    optimizer,
    stepSize: v['step-size'] ?? TARGETED_CE_L2_DEFAULTS.stepSize[optimizer],
    maxSteps: v['max-steps'],
    confidence: v.confidence,
  };
  if (v.out)
    checkFilesOut(v.out, ['summary.json', 'adversarial.rlc'], 'attack output', (p) =>
      p.endsWith('.rlc') ? hasMagic(p, 'RLCODES1') : isAttackSummary(p),
    );
  await initBackend({ backend: v.backend });
  const { record } = await runAttackJob({
    modelDir,
    mode,
    count: v.n,
    seed: v.seed,
    dataDir: v['data-dir'],
    latentDir: v['latent-dir'],
    attack,
    pixelProjection: v['pixel-projection'] ?? 'implicit',
    out: v.out,
    silent: v.quiet,
  });
  const s = record.summary;
  output(v.json, { command: 'attack', model: modelDir, ...record }, () =>
    [
      `${record.dataset} ${record.space} ${record.arch} (${record.mode}): ${s.successes}/${s.n} succeeded (${(s.successRate * 100).toFixed(1)}%) in ${record.seconds.toFixed(1)} s`,
      `robustness (mean ‖x_adv − x‖₂/‖x‖₂ over successes) ${s.robustness.toFixed(4)}, mean ‖x_adv − x‖₂ ${s.meanL2.toFixed(3)}, mean steps ${s.meanSteps.toFixed(0)}`,
    ].join('\n'),
  );
}
