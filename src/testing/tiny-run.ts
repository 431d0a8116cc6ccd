/**
 * A small but real run directory for the lab's tests and benchmark: every classifier of the
 * study's grid (image + four latent spaces × 1L/2L/LRL) trained on a slice of MNIST, laid out
 * as `robustlab reproduce` lays out its stages (stages/classifier_<d>_<space>_<arch>-<key>/model,
 * with the generator beside latent heads), plus results.json claims and one figure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../data/node-io.js';
import {
  LATENT_METHODS,
  computeCodes,
  methodGenerator,
  type LatentMethod,
} from '../latent/codes.js';
import { Generator, LATENT_DIM, trainGenerator } from '../latent/generators.js';
import { ARCHS, MlpClassifier, evaluate } from '../models/classifier.js';
import { saveModel } from '../models/io.js';
import { trainClassifier } from '../models/train.js';
import { groupedBarChart } from '../report/svg.js';

/** Let the event loop run between trainings (vitest's worker RPC starves otherwise). */
const breathe = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface TinyRunOptions {
  out: string;
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
  hidden?: number;
  imageEpochs?: number;
  latentEpochs?: number;
  generatorEpochs?: number;
  projectionSteps?: number;
  seed?: number;
}

export async function buildTinyRun(
  o: TinyRunOptions,
): Promise<{ accuracy: Record<string, number> }> {
  const seed = o.seed ?? 0;
  const hidden = o.hidden ?? 32;
  const ds = await loadDataset('mnist', {
    dataDir: o.dataDir,
    limitTrain: o.limitTrain ?? 1000,
    limitTest: o.limitTest ?? 300,
  });
  const { train, test } = ds;
  const accuracy: Record<string, number> = {};
  const save = (
    space: string,
    arch: string,
    clf: MlpClassifier,
    gen: Generator | null,
    acc: number,
    settings: Record<string, unknown>,
  ) => {
    const dir = join(o.out, 'stages', `classifier_mnist_${space}_${arch}-tiny`, 'model');
    mkdirSync(join(o.out, 'stages'), { recursive: true });
    saveModel(
      dir,
      { model: clf.net, ...(gen ? gen.parts() : {}) },
      {
        kind: 'classifier',
        dataset: 'mnist',
        space,
        arch,
        hidden,
        seed,
        epochs: space === 'image' ? (o.imageEpochs ?? 4) : (o.latentEpochs ?? 10),
        accuracy: { train: NaN, test: acc },
        settings,
      },
    );
    accuracy[`${space}/${arch}`] = acc;
  };
  await breathe();
  for (const arch of ARCHS) {
    const clf = MlpClassifier.create(arch, 784, { hidden, seed });
    trainClassifier(
      clf,
      clf.net.variables(),
      { x: train.images, y: train.labels, n: train.n, dim: 784 },
      {
        epochs: o.imageEpochs ?? 4,
        seed,
        batchSize: 100,
        silent: true,
      },
    );
    await breathe();
    save('image', arch, clf, null, evaluate(clf, test.images, test.labels, test.n).accuracy, {
      space: 'image',
    });
    clf.dispose();
  }
  const gens: Record<string, Generator> = {};
  for (const kind of ['ae', 'vae'] as const) {
    gens[kind] = Generator.create(kind, seed);
    trainGenerator(
      gens[kind],
      { x: train.images, n: train.n, dim: 784 },
      {
        epochs: o.generatorEpochs ?? 2,
        seed,
        batchSize: 100,
        silent: true,
      },
    );
  }
  const steps = o.projectionSteps ?? 20;
  for (const method of LATENT_METHODS as readonly LatentMethod[]) {
    const gen = gens[methodGenerator(method)];
    const co = { seed, steps, lr: 0.1, norm: 'l2' as const };
    await breathe();
    const ztr = computeCodes(gen, method, train.images, train.n, co);
    const zte = computeCodes(gen, method, test.images, test.n, co);
    for (const arch of ARCHS) {
      const clf = MlpClassifier.create(arch, LATENT_DIM, { hidden, seed });
      trainClassifier(
        clf,
        clf.net.variables(),
        { x: ztr, y: train.labels, n: train.n, dim: LATENT_DIM },
        {
          epochs: o.latentEpochs ?? 10,
          seed,
          batchSize: 100,
          silent: true,
        },
      );
      await breathe();
      const acc = evaluate(clf, zte, test.labels, test.n).accuracy;
      save(method, arch, clf, gen, acc, { space: method, codes: { method, ...co } });
      clf.dispose();
    }
  }
  for (const g of Object.values(gens)) g.dispose();
  // What the report view reads: claims (results.json) and figures.
  const spaces = ['image', ...LATENT_METHODS];
  const svg = groupedBarChart({
    title: 'tiny run: test accuracy (%)',
    yLabel: 'test accuracy (%)',
    groups: spaces,
    series: ARCHS.map((a) => ({ name: a, values: spaces.map((s) => 100 * accuracy[`${s}/${a}`]) })),
    yMin: 0,
    yMax: 100,
  });
  mkdirSync(join(o.out, 'figures'), { recursive: true });
  writeFileSync(join(o.out, 'figures', 'mnist-fig4-accuracy.svg'), svg);
  const bestImage = Math.max(...ARCHS.map((a) => accuracy[`image/${a}`]));
  const bestLatent = Math.max(
    ...LATENT_METHODS.flatMap((m) => ARCHS.map((a) => accuracy[`${m}/${a}`])),
  );
  writeFileSync(
    join(o.out, 'results.json'),
    JSON.stringify({
      preset: 'tiny',
      claims: [
        {
          dataset: 'mnist',
          claim: 'image-space classifiers achieve the highest test accuracy',
          supported: bestImage > bestLatent,
          evidence: `best image ${(bestImage * 100).toFixed(0)}% vs best latent ${(bestLatent * 100).toFixed(0)}%`,
        },
      ],
    }),
  );
  writeFileSync(
    join(o.out, 'report.html'),
    `<!doctype html><title>tiny run</title><h1>tiny run report</h1>${svg}`,
  );
  return { accuracy };
}
