import { initBackend } from '../../backend/backend.js';
import { LATENT_METHODS, PROJECTION_DEFAULTS } from '../../latent/codes.js';
import { buildLatentDataset, defaultLatentDir } from '../../latent/jobs.js';
import { DATASET_NAMES } from '../../data/datasets.js';
import { isProjection } from '../../latent/codes.js';
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

export const MAX_PROJECTION_STEPS = 100000;

export const OPTIONS = {
  dataset: choice(DATASET_NAMES, { help: 'required' }),
  method: choice(LATENT_METHODS, { help: 'required' }),
  steps: int({
    min: 1,
    max: MAX_PROJECTION_STEPS,
    default: PROJECTION_DEFAULTS.steps,
    help: 'projection methods only',
  }),
  lr: num({
    min: 0,
    max: 10,
    minExclusive: true,
    default: PROJECTION_DEFAULTS.lr,
    help: 'projection methods only',
  }),
  norm: choice(['l2', 'l1'] as const, { default: 'l2', help: 'projection methods only' }),
  'vae-code': choice(['sample', 'mean'] as const, { default: 'sample', help: 'vae-encoding only' }),
  ...SEED_OPTION,
  'latent-dir': path({ help: 'default runs/latent/<dataset>' }),
  ...LIMITS,
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

const HELP = `usage: robustlab latent --dataset D --method M [options]

Turn the dataset's train and test splits into 32-d latent-code datasets, stored as
<latent-dir>/<method>.{train,test}.rlc (format: docs/design.md). Needs the AE / VAE in
<latent-dir>/ae or <latent-dir>/vae ('robustlab train ae|vae'). A current file is reused;
an interrupted run resumes from its last finished chunk; a changed model or setting rebuilds.

options:
  --dataset D        mnist | fashion-mnist                               (required)
  --method M         ${LATENT_METHODS.join(' | ')}       (required)
  --steps N          projection methods: steps, 1..${MAX_PROJECTION_STEPS} (default ${PROJECTION_DEFAULTS.steps})
  --lr R             projection methods: Adam learning rate in (0, 10] (default ${PROJECTION_DEFAULTS.lr})
  --norm l2|l1       projection methods: norm (default l2; l1 files get the suffix -l1)
  --vae-code sample|mean   vae-encoding only: one stochastic sample (default, the study's) or μ(x)
  --seed S           0..4294967295 (default 0)
  --latent-dir DIR   default runs/latent/<dataset>
  --limit-train N, --limit-test N   first N images only (quick runs)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v, given } = parseOptions(argv, OPTIONS, { command: 'latent' });
  if (helpRequested(v, HELP)) return;
  const dataset = required('dataset', v.dataset);
  const method = required('method', v.method);
  if (!isProjection(method))
    refuseInapplicable(
      given,
      ['steps', 'lr', 'norm'],
      `to --method ${method} (projection methods only)`,
    );
  if (method !== 'vae-encoding')
    refuseInapplicable(given, ['vae-code'], `to --method ${method} (vae-encoding only)`);
  await initBackend({ backend: v.backend });
  const r = await buildLatentDataset({
    dataset,
    method,
    latentDir: v['latent-dir'] ?? defaultLatentDir(dataset),
    dataDir: v['data-dir'],
    steps: v.steps,
    lr: v.lr,
    norm: v.norm,
    vaeCode: v['vae-code'],
    seed: v.seed,
    ...limits(v),
    silent: v.quiet,
  });
  output(
    v.json,
    { command: 'latent', ...r },
    () =>
      `${dataset} ${method}: ${r.reused ? 'up to date' : 'built'} in ${r.seconds.toFixed(1)} s: ${Object.values(r.files).join(', ')}\n` +
      `mean ||D(z) − x||₂ on test: ${r.reconstructionL2.test.codes.toFixed(3)} (encoder: ${r.reconstructionL2.test.encoder.toFixed(3)})`,
  );
}
