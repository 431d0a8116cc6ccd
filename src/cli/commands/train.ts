import { initBackend } from '../../backend/backend.js';
import { DATASET_NAMES } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { ARCHS, DEFAULT_HIDDEN } from '../../models/classifier.js';
import { runTrainClassifier } from '../../experiments/classifier-job.js';
import { SPACES } from '../../experiments/spaces.js';
import { GENERATOR_DEFAULTS } from '../../latent/generators.js';
import { plural } from '../../util/plural.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  LIMITS,
  limits,
  num,
  output,
  parseOptions,
  path,
  refuseInapplicable,
  required,
  SEED_OPTION,
} from '../args.js';
import { checkModelOut } from '../outputs.js';

export const MAX_EPOCHS = 10000;

export const CLASSIFIER_OPTIONS = {
  dataset: choice(DATASET_NAMES, { help: 'required' }),
  arch: choice(ARCHS, { ignoreCase: true, help: 'required' }),
  space: choice(SPACES, { default: 'image', help: 'input space (default image)' }),
  epochs: int({
    min: 1,
    max: MAX_EPOCHS,
    help: 'default 50 in image space, 150 in a latent space',
  }),
  hidden: int({ min: 1, max: 4096, default: DEFAULT_HIDDEN, help: 'hidden width' }),
  ...SEED_OPTION,
  'latent-dir': path({ help: 'latent classifiers: where the code datasets and AE/VAE are' }),
  out: path({ help: 'model directory to write' }),
  ...LIMITS,
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

export const GENERATOR_OPTIONS = {
  dataset: choice(DATASET_NAMES, { help: 'required' }),
  epochs: int({ min: 1, max: MAX_EPOCHS, default: GENERATOR_DEFAULTS.epochs }),
  batch: int({ min: 1, max: 60000, default: GENERATOR_DEFAULTS.batchSize, help: 'batch size' }),
  lr: num({ min: 0, max: 10, minExclusive: true, default: GENERATOR_DEFAULTS.lr }),
  ...SEED_OPTION,
  out: path({ help: 'model directory to write' }),
  ...LIMITS,
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

export const HELP = `usage: robustlab train classifier --dataset D --arch A [options]
       robustlab train ae|vae --dataset D [options]

Train a model and save it (tfjs Layers format + robustlab.json) to --out. --out must be a new
or empty directory, or a previous robustlab model of the same kind (which is replaced).

classifier options:
  --dataset D        mnist | fashion-mnist                         (required)
  --arch A           ${ARCHS.join(' | ')}                                  (required)
  --space S          ${SPACES.join(' | ')} (default image)
  --epochs N         1..${MAX_EPOCHS}; default 50 in image space, 150 in a latent space
  --hidden H         hidden width, 1..4096 (default ${DEFAULT_HIDDEN})
  --seed S           0..4294967295 (default 0)
  --latent-dir DIR   latent spaces only: where the AE/VAE and latent datasets are
                     (default runs/latent/<dataset>)
  --limit-train N, --limit-test N   use only the first N examples (quick runs)
  --out DIR          default runs/models/<dataset>-<space>-<arch>-s<seed>

ae|vae options:
  --dataset D        mnist | fashion-mnist                         (required)
  --epochs N         1..${MAX_EPOCHS} (default ${GENERATOR_DEFAULTS.epochs})
  --batch N          batch size, 1..60000 (default ${GENERATOR_DEFAULTS.batchSize})
  --lr R             Adam learning rate in (0, 10] (default ${GENERATOR_DEFAULTS.lr})
  --seed S           0..4294967295 (default 0)
  --limit-train N, --limit-test N   use only the first N examples (quick runs)
  --out DIR          default runs/latent/<dataset>/<ae|vae>
common: --json --quiet --backend wasm|cpu|tensorflow --data-dir DIR --help`;

export async function run(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (!what || what === '--help' || what === '-h') {
    process.stdout.write(HELP + '\n');
    return;
  }
  if (what === 'ae' || what === 'vae') {
    const { runTrainGenerator } = await import('./train-generator.js');
    return runTrainGenerator(what, rest, HELP);
  }
  if (what !== 'classifier')
    throw new RobustlabError(`unknown model kind '${what}' (expected classifier, ae or vae)`);
  const { values: v, given } = parseOptions(rest, CLASSIFIER_OPTIONS, {
    command: 'train classifier',
  });
  if (helpRequested(v, HELP)) return;
  const dataset = required('dataset', v.dataset);
  const arch = required('arch', v.arch);
  const space = v.space;
  if (space === 'image')
    refuseInapplicable(given, ['latent-dir'], 'to an image-space classifier (--space image)');
  const seed = v.seed;
  const epochs = v.epochs ?? (space === 'image' ? 50 : 150);
  const hidden = v.hidden;
  const out = checkModelOut(
    v.out ?? `runs/models/${dataset}-${space}-${arch}-s${seed}`,
    'classifier',
    {
      log: v.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
    },
  );
  await initBackend({ backend: v.backend });
  const r = await runTrainClassifier({
    dataset,
    arch,
    space,
    epochs,
    seed,
    hidden,
    out,
    dataDir: v['data-dir'],
    latentDir: v['latent-dir'],
    ...limits(v),
    silent: v.quiet,
  });
  output(v.json, { command: 'train classifier', ...r }, () =>
    [
      `${dataset} ${space} ${arch}: train accuracy ${(r.trainAccuracy * 100).toFixed(2)}%, ` +
        `test accuracy ${(r.testAccuracy * 100).toFixed(2)}%`,
      `${plural(epochs, 'epoch')} in ${r.seconds.toFixed(1)} s (${r.secondsPerEpoch.toFixed(2)} s/epoch); saved to ${out}`,
    ].join('\n'),
  );
}
