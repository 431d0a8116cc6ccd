import { initBackend } from '../../backend/backend.js';
import { parseDatasetName } from '../../data/datasets.js';
import { LATENT_METHODS, parseLatentMethod, PROJECTION_DEFAULTS } from '../../latent/codes.js';
import { buildLatentDataset, defaultLatentDir } from '../../latent/jobs.js';
import {
  choiceOpt,
  intOpt,
  numOpt,
  output,
  parse,
  requireOpt,
  LIMIT_OPTIONS,
  limits,
  helpRequested,
} from '../args.js';

const HELP = `usage: robustlab latent --dataset D --method M [options]

Turn the dataset's train and test splits into 32-d latent-code datasets, stored as
<latent-dir>/<method>.{train,test}.rlc (format: docs/design.md). Needs the AE / VAE in
<latent-dir>/ae or <latent-dir>/vae ('robustlab train ae|vae'). A current file is reused;
an interrupted run resumes from its last finished chunk; a changed model or setting rebuilds.

options:
  --dataset D        mnist | fashion-mnist                               (required)
  --method M         ${LATENT_METHODS.join(' | ')}       (required)
  --steps N          projection steps (default ${PROJECTION_DEFAULTS.steps})
  --lr R             projection Adam learning rate (default ${PROJECTION_DEFAULTS.lr})
  --norm l2|l1       projection norm (default l2; l1 files get the suffix -l1)
  --vae-code sample|mean   vae-encoding: one stochastic sample (default, the study's) or μ(x)
  --seed S           default 0
  --latent-dir DIR   default runs/latent/<dataset>
  --limit-train N, --limit-test N   first N images only (quick runs)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    dataset: { type: 'string' },
    method: { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    norm: { type: 'string' },
    'vae-code': { type: 'string' },
    seed: { type: 'string' },
    'latent-dir': { type: 'string' },
    ...LIMIT_OPTIONS,
  });
  if (helpRequested(v, HELP)) return;
  const dataset = parseDatasetName(requireOpt('dataset', v.dataset));
  const method = parseLatentMethod(requireOpt('method', v.method));
  await initBackend({ backend: v.backend });
  const r = await buildLatentDataset({
    dataset,
    method,
    latentDir: v['latent-dir'] ?? defaultLatentDir(dataset),
    dataDir: v['data-dir'],
    steps: intOpt('steps', v.steps, PROJECTION_DEFAULTS.steps),
    lr: numOpt('lr', v.lr, PROJECTION_DEFAULTS.lr, 1e-9),
    norm: choiceOpt('norm', v.norm, ['l2', 'l1'] as const, 'l2'),
    vaeCode: choiceOpt('vae-code', v['vae-code'], ['sample', 'mean'] as const, 'sample'),
    seed: intOpt('seed', v.seed, 0),
    ...limits(v),
    silent: v.quiet || v.json,
  });
  output(
    v.json,
    { command: 'latent', ...r },
    () =>
      `${dataset} ${method}: ${r.reused ? 'up to date' : 'built'} in ${r.seconds.toFixed(1)} s: ${Object.values(r.files).join(', ')}\n` +
      `mean ||D(z) − x||₂ on test: ${r.reconstructionL2.test.codes.toFixed(3)} (encoder: ${r.reconstructionL2.test.encoder.toFixed(3)})`,
  );
}
