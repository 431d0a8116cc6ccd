#!/usr/bin/env node
// Train an image classifier on MNIST, attack it with the study's targeted attack, and report
// its robustness, using only the library's main entry (`import ... from 'robustlab'`; Node's
// own fs/path only read the data files and write the model).
//
//   node examples/train-and-attack.mjs [--data-dir DIR] [--arch 2L] [--limit-train 10000]
//        [--epochs 5] [--count 5] [--max-steps 1000] [--save DIR]
//
// Data: --data-dir, else $ROBUSTLAB_DATA, else ../shared/datasets, else ~/.cache/robustlab/datasets
// (`npx robustlab data fetch` puts it there).
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DATASETS,
  MlpClassifier,
  PIXEL_RANGE,
  VERSION,
  datasetFromFiles,
  evaluate,
  initBackend,
  modelToFiles,
  parseArch,
  robustnessSummary,
  selectAttackExamples,
  targetedCeL2,
  trainClassifier,
} from 'robustlab';

const { values: o } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    arch: { type: 'string', default: '2L' },
    'limit-train': { type: 'string', default: '10000' },
    'limit-test': { type: 'string', default: '2000' },
    epochs: { type: 'string', default: '5' },
    count: { type: 'string', default: '5' },
    'max-steps': { type: 'string', default: '1000' },
    hidden: { type: 'string', default: '256' },
    save: { type: 'string' },
  },
});

const candidates = [
  o['data-dir'],
  process.env.ROBUSTLAB_DATA,
  '../shared/datasets',
  join(homedir(), '.cache', 'robustlab', 'datasets'),
].filter(Boolean);
const root = candidates.find((d) => existsSync(join(d, 'mnist')));
if (!root) {
  console.error(`no MNIST files under ${candidates.join(', ')}: run \`npx robustlab data fetch\``);
  process.exit(1);
}

const backend = await initBackend(); // wasm; robustlab/node's initBackend adds the native addon
const files = {};
for (const s of ['train', 'test'])
  for (const k of ['images', 'labels']) {
    const f = DATASETS.mnist.splits[s][k].file;
    const p = [join(root, 'mnist', f), join(root, 'mnist', f.replace(/\.gz$/, ''))].find(
      existsSync,
    );
    files[f] = new Uint8Array(await readFile(p));
  }
const ds = await datasetFromFiles('mnist', files, {
  limitTrain: Number(o['limit-train']),
  limitTest: Number(o['limit-test']),
});
console.log(
  `robustlab ${VERSION} (${backend}): MNIST ${ds.train.n} train / ${ds.test.n} test images`,
);

const arch = parseArch(o.arch);
const clf = MlpClassifier.create(arch, 784, { hidden: Number(o.hidden), seed: 0 });
const t0 = performance.now();
trainClassifier(
  clf,
  clf.net.variables(),
  { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 },
  {
    epochs: Number(o.epochs),
    seed: 0,
    silent: true,
  },
);
const acc = evaluate(clf, ds.test.images, ds.test.labels, ds.test.n).accuracy;
console.log(
  `trained ${arch} in ${((performance.now() - t0) / 1000).toFixed(1)} s: test accuracy ${(acc * 100).toFixed(2)}%`,
);

// The study's robustness test: correctly classified test images, each pushed to every other class.
const ex = selectAttackExamples(clf, ds.test.images, ds.test.labels, ds.test.n, {
  count: Number(o.count),
  seed: 0,
});
const r = targetedCeL2(clf, ex.x0, ex.n, ex.goals, {
  ...PIXEL_RANGE,
  maxSteps: Number(o['max-steps']),
  silent: true,
});
const s = robustnessSummary(ex.x0, r);
console.log(
  `targeted attack on ${ex.n} (image, goal) pairs: ${s.successes}/${s.n} succeeded; ` +
    `mean ‖δ‖₂ ${s.successes ? s.meanL2.toFixed(3) : 'n/a'}, robustness ${s.successes ? s.robustness.toFixed(3) : 'n/a'}`,
);
console.log(JSON.stringify({ arch, testAccuracy: acc, attack: s }));

if (o.save) {
  await mkdir(o.save, { recursive: true });
  const meta = {
    kind: 'classifier',
    dataset: 'mnist',
    space: 'image',
    arch,
    hidden: Number(o.hidden),
    seed: 0,
    epochs: Number(o.epochs),
    accuracy: { train: NaN, test: acc },
  };
  for (const [name, bytes] of Object.entries(modelToFiles({ model: clf.net }, meta, VERSION)))
    await writeFile(join(o.save, name), bytes);
  console.log(
    `saved the model to ${o.save} (evaluate it: node examples/evaluate-saved-model.mjs --model ${o.save})`,
  );
}
clf.dispose();
