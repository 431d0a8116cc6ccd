import { initBackend } from '../../backend/backend.js';
import type { GeneratorKind } from '../../latent/generators.js';
import { defaultLatentDir, runTrainGenerator as trainJob } from '../../latent/jobs.js';
import { plural } from '../../util/plural.js';
import { join } from 'node:path';
import { helpRequested, limits, output, parseOptions, required } from '../args.js';
import { checkModelOut } from '../outputs.js';
import { GENERATOR_OPTIONS } from './train.js';

export async function runTrainGenerator(
  kind: GeneratorKind,
  argv: string[],
  help: string,
): Promise<void> {
  const { values: v } = parseOptions(argv, GENERATOR_OPTIONS, { command: `train ${kind}` });
  if (helpRequested(v, help)) return;
  const dataset = required('dataset', v.dataset);
  const out = checkModelOut(v.out ?? join(defaultLatentDir(dataset), kind), kind, {
    log: v.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
  });
  await initBackend({ backend: v.backend });
  const r = await trainJob({
    dataset,
    kind,
    epochs: v.epochs,
    batchSize: v.batch,
    lr: v.lr,
    seed: v.seed,
    out,
    dataDir: v['data-dir'],
    ...limits(v),
    silent: v.quiet,
  });
  output(
    v.json,
    { command: `train ${kind}`, ...r },
    () =>
      `${dataset} ${kind}: ${plural(r.epochs, 'epoch')} in ${r.seconds.toFixed(1)} s, final loss ${r.finalLoss?.toFixed(2)}, ` +
      `test reconstruction ||D(E(x)) − x||₂ = ${r.testReconstructionL2.toFixed(3)}; saved to ${r.out}`,
  );
}
