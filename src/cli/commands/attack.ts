import { initBackend } from '../../backend/backend.js';
import { TARGETED_CE_L2_DEFAULTS } from '../../attacks/targeted-ce-l2.js';
import { ATTACK_MODES, runAttackJob } from '../../experiments/attack-job.js';
import { choiceOpt, intOpt, numOpt, output, parse, requireOpt, helpRequested } from '../args.js';

const HELP = `usage: robustlab attack --model DIR [--mode own-space|pixel-space] [--n 20] [options]

The study's targeted attack on a saved classifier: n correctly classified test inputs × the 9
other classes (180 by default); minimise CE(goal, C(x)) + λ‖x − x̄‖₂ until p(goal) ≥ 0.95.
Reports the study's robustness (mean ‖x_adv − x‖₂/‖x‖₂ over successes), success rate, mean L2
and steps; with --out, also adversarial.rlc (the adversarial inputs) and summary.json.

options:
  --model DIR        a classifier directory                                  (required)
  --mode M           own-space (default; the study's) | pixel-space (latent classifiers, end to end)
  --n N              correctly classified test inputs (default 20 → 180 examples)
  --lambda L         default ${TARGETED_CE_L2_DEFAULTS.lambda}
  --optimizer O      ngd (default: normalised gradient descent) | sgd | adam
  --step-size S      default ngd ${TARGETED_CE_L2_DEFAULTS.stepSize.ngd} (L2 length of a step), sgd ${TARGETED_CE_L2_DEFAULTS.stepSize.sgd}, adam ${TARGETED_CE_L2_DEFAULTS.stepSize.adam}
  --max-steps N      default ${TARGETED_CE_L2_DEFAULTS.maxSteps}
  --confidence P     default ${TARGETED_CE_L2_DEFAULTS.confidence}
  --pixel-projection implicit|encoder   pixel-space attack on a projection space: through the
                     projection's implicit gradient (default) or with the encoder as a surrogate
  --seed S           default 0
  --latent-dir DIR   for latent classifiers: where the code datasets are
  --out DIR          write adversarial.rlc and summary.json here
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    model: { type: 'string' },
    mode: { type: 'string' },
    n: { type: 'string' },
    lambda: { type: 'string' },
    'step-size': { type: 'string' },
    optimizer: { type: 'string' },
    'max-steps': { type: 'string' },
    confidence: { type: 'string' },
    seed: { type: 'string' },
    'pixel-projection': { type: 'string' },
    'latent-dir': { type: 'string' },
    out: { type: 'string' },
  });
  if (helpRequested(v, HELP)) return;
  const modelDir = requireOpt('model', v.model);
  const mode = choiceOpt('mode', v.mode, ATTACK_MODES, 'own-space');
  const optimizer = choiceOpt(
    'optimizer',
    v.optimizer,
    ['ngd', 'sgd', 'adam'] as const,
    TARGETED_CE_L2_DEFAULTS.optimizer,
  );
  const attack = {
    lambda: numOpt('lambda', v.lambda, TARGETED_CE_L2_DEFAULTS.lambda, 0),
    optimizer,
    stepSize: numOpt(
      'step-size',
      v['step-size'],
      TARGETED_CE_L2_DEFAULTS.stepSize[optimizer],
      1e-12,
    ),
    maxSteps: intOpt('max-steps', v['max-steps'], TARGETED_CE_L2_DEFAULTS.maxSteps),
    confidence: numOpt('confidence', v.confidence, TARGETED_CE_L2_DEFAULTS.confidence, 1e-9, 1),
  };
  await initBackend({ backend: v.backend });
  const { record } = await runAttackJob({
    modelDir,
    mode,
    count: intOpt('n', v.n, 20, 1),
    seed: intOpt('seed', v.seed, 0),
    dataDir: v['data-dir'],
    latentDir: v['latent-dir'],
    attack,
    pixelProjection: choiceOpt(
      'pixel-projection',
      v['pixel-projection'],
      ['implicit', 'encoder'] as const,
      'implicit',
    ),
    out: v.out,
    silent: v.quiet || v.json,
  });
  const s = record.summary;
  output(v.json, { command: 'attack', model: modelDir, ...record }, () =>
    [
      `${record.dataset} ${record.space} ${record.arch} (${record.mode}): ${s.successes}/${s.n} succeeded (${(s.successRate * 100).toFixed(1)}%) in ${record.seconds.toFixed(1)} s`,
      `robustness (mean ‖x_adv − x‖₂/‖x‖₂ over successes) ${s.robustness.toFixed(4)}, mean ‖x_adv − x‖₂ ${s.meanL2.toFixed(3)}, mean steps ${s.meanSteps.toFixed(0)}`,
    ].join('\n'),
  );
}
