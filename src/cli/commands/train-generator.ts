import { parseDatasetName } from '../../data/datasets.js';
import { initBackend } from '../../backend/backend.js';
import { GENERATOR_DEFAULTS, type GeneratorKind } from '../../latent/generators.js';
import { defaultLatentDir, runTrainGenerator as trainJob } from '../../latent/jobs.js';
import { join } from 'node:path';
import {
  intOpt,
  numOpt,
  output,
  parse,
  requireOpt,
  LIMIT_OPTIONS,
  limits,
  helpRequested,
} from '../args.js';

export async function runTrainGenerator(
  kind: GeneratorKind,
  argv: string[],
  help: string,
): Promise<void> {
  const { values: v } = parse(argv, {
    dataset: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    ...LIMIT_OPTIONS,
  });
  if (helpRequested(v, help)) return;
  const dataset = parseDatasetName(requireOpt('dataset', v.dataset));
  await initBackend({ backend: v.backend });
  const r = await trainJob({
    dataset,
    kind,
    epochs: intOpt('epochs', v.epochs, GENERATOR_DEFAULTS.epochs),
    batchSize: intOpt('batch', v.batch, GENERATOR_DEFAULTS.batchSize, 1),
    lr: numOpt('lr', v.lr, GENERATOR_DEFAULTS.lr, 1e-12),
    seed: intOpt('seed', v.seed, 0),
    out: v.out ?? join(defaultLatentDir(dataset), kind),
    dataDir: v['data-dir'],
    ...limits(v),
    silent: v.quiet || v.json,
  });
  output(
    v.json,
    { command: `train ${kind}`, ...r },
    () =>
      `${dataset} ${kind}: ${r.epochs} epochs in ${r.seconds.toFixed(1)} s, final loss ${r.finalLoss?.toFixed(2)}, ` +
      `test reconstruction ||D(E(x)) − x||₂ = ${r.testReconstructionL2.toFixed(3)}; saved to ${r.out}`,
  );
}
