import { parseDatasetName } from '../../data/datasets.js';
import { initBackend } from '../../backend/backend.js';
import { GENERATOR_DEFAULTS, type GeneratorKind } from '../../latent/generators.js';
import { defaultLatentDir, runTrainGenerator as trainJob } from '../../latent/jobs.js';
import { join } from 'node:path';
import { intOpt, numOpt, output, parse, requireOpt } from '../args.js';

export async function runTrainGenerator(kind: GeneratorKind, argv: string[], help: string): Promise<void> {
  const { values: v } = parse(argv, {
    dataset: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'limit-train': { type: 'string' },
    'limit-test': { type: 'string' },
  });
  if (v.help) {
    process.stdout.write(help + '\n');
    return;
  }
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
    limitTrain: v['limit-train'] ? intOpt('limit-train', v['limit-train'], 0, 1) : undefined,
    limitTest: v['limit-test'] ? intOpt('limit-test', v['limit-test'], 0, 1) : undefined,
    silent: v.quiet || v.json,
  });
  output(v.json, { command: `train ${kind}`, ...r }, () =>
    `${dataset} ${kind}: ${r.epochs} epochs in ${r.seconds.toFixed(1)} s, final loss ${r.finalLoss?.toFixed(2)}, ` +
      `test reconstruction ||D(E(x)) − x||₂ = ${r.testReconstructionL2.toFixed(3)}; saved to ${r.out}`,
  );
}
