import { initBackend } from '../../backend/backend.js';
import { parseDatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { ARCHS, DEFAULT_HIDDEN, parseArch } from '../../models/classifier.js';
import { runTrainClassifier } from '../../experiments/classifier-job.js';
import { parseSpace, SPACES } from '../../experiments/spaces.js';
import {
  intOpt,
  output,
  parse,
  requireOpt,
  LIMIT_OPTIONS,
  limits,
  helpRequested,
} from '../args.js';

const HELP = `usage: robustlab train classifier --dataset D --arch A [options]
       robustlab train ae|vae --dataset D [options]

Train a model and save it (tfjs Layers format + robustlab.json) to --out.

classifier options:
  --dataset D        mnist | fashion-mnist                         (required)
  --arch A           ${ARCHS.join(' | ')}                                  (required)
  --space S          ${SPACES.join(' | ')} (default image)
  --epochs N         default 50 in image space, 150 in a latent space
  --hidden H         hidden width (default ${DEFAULT_HIDDEN})
  --seed S           default 0
  --latent-dir DIR   where the AE/VAE and latent datasets are (default runs/latent/<dataset>)
  --limit-train N, --limit-test N   use only the first N examples (quick runs)
  --out DIR          default runs/models/<dataset>-<space>-<arch>-s<seed>
ae|vae options: --dataset, --epochs (30), --batch (256), --lr (1e-3), --seed, --out
common: --json --quiet --backend --data-dir --help`;

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
  const { values: v } = parse(rest, {
    dataset: { type: 'string' },
    arch: { type: 'string' },
    space: { type: 'string' },
    epochs: { type: 'string' },
    hidden: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'latent-dir': { type: 'string' },
    ...LIMIT_OPTIONS,
  });
  if (helpRequested(v, HELP)) return;
  const dataset = parseDatasetName(requireOpt('dataset', v.dataset));
  const arch = parseArch(requireOpt('arch', v.arch));
  const space = parseSpace(v.space ?? 'image');
  const seed = intOpt('seed', v.seed, 0);
  const epochs = intOpt('epochs', v.epochs, space === 'image' ? 50 : 150);
  const hidden = intOpt('hidden', v.hidden, DEFAULT_HIDDEN, 1);
  const out = v.out ?? `runs/models/${dataset}-${space}-${arch}-s${seed}`;
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
    silent: v.quiet || v.json,
  });
  output(v.json, { command: 'train classifier', ...r }, () =>
    [
      `${dataset} ${space} ${arch}: train accuracy ${(r.trainAccuracy * 100).toFixed(2)}%, ` +
        `test accuracy ${(r.testAccuracy * 100).toFixed(2)}%`,
      `${epochs} epochs in ${r.seconds.toFixed(1)} s (${r.secondsPerEpoch.toFixed(2)} s/epoch); saved to ${out}`,
    ].join('\n'),
  );
}
