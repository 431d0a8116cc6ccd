#!/usr/bin/env node
// Load a saved classifier (a `robustlab train classifier --out DIR` directory, a model of a
// reproduce run, or what examples/train-and-attack.mjs --save wrote), evaluate it on the test
// set, and attack a few test images, with the Node entry (`robustlab/node`: data files on disk,
// the native backend, model directories).
//
//   node examples/evaluate-saved-model.mjs --model DIR [--data-dir DIR] [--limit-test 2000] [--count 3]
import { parseArgs } from 'node:util';
import {
  PIXEL_RANGE,
  evaluate,
  imageClassifierFromParts,
  initBackend,
  loadDataset,
  loadModel,
  robustnessSummary,
  selectAttackExamples,
  targetedCeL2,
} from 'robustlab/node';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    'data-dir': { type: 'string' },
    'limit-test': { type: 'string', default: '2000' },
    count: { type: 'string', default: '3' },
    'max-steps': { type: 'string', default: '1000' },
  },
});
if (!o.model) {
  console.error('usage: node examples/evaluate-saved-model.mjs --model DIR [--data-dir DIR]');
  process.exit(1);
}

const backend = await initBackend(); // wasm + the OpenBLAS addon when it was built
const { meta, parts } = loadModel(o.model);
// Any model as image → class: latent models are composed with their stored generator.
const { classifier, head } = imageClassifierFromParts(meta, parts, { seed: 0 });
const ds = await loadDataset(meta.dataset, {
  dataDir: o['data-dir'],
  limitTest: Number(o['limit-test']),
});
const { accuracy, confusion } = evaluate(classifier, ds.test.images, ds.test.labels, ds.test.n);
console.log(
  `${meta.dataset} ${meta.space} ${meta.arch} (${backend}): test accuracy ${(accuracy * 100).toFixed(2)}% on ${ds.test.n} images`,
);
console.log('confusion row 0:', confusion[0].join(' '));

const ex = selectAttackExamples(classifier, ds.test.images, ds.test.labels, ds.test.n, {
  count: Number(o.count),
  seed: 0,
});
const r = targetedCeL2(classifier, ex.x0, ex.n, ex.goals, {
  ...PIXEL_RANGE,
  maxSteps: Number(o['max-steps']),
  silent: true,
});
const s = robustnessSummary(ex.x0, r);
console.log(
  `pixel-space targeted attack: ${s.successes}/${s.n} succeeded, mean ‖δ‖₂ ${s.successes ? s.meanL2.toFixed(3) : 'n/a'}`,
);
console.log(JSON.stringify({ testAccuracy: accuracy, attack: s }));
classifier.dispose();
if (classifier !== head) head.dispose();
