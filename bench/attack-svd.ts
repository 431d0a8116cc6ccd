/**
 * `node --import tsx bench/attack-svd.ts [--repeats N]`: the two stage workloads of issue 17's
 * attack/SVD levers, before and after, in one process (same data, model and examples as
 * bench/stages.ts): the targeted attack 180 examples × 100 steps on a 2L through tfjs
 * (runAttack + tf.grad, `fused: false`) and through the fused host step; the 20-fraction SVD
 * sweep building a tfjs model per fraction (defendSpectral) and with host weights
 * (SpectralSweep). Before and after interleaved, medians of N runs after one warm-up each, wall
 * and process CPU seconds (CPU time is the steadier number on a loaded machine); --json.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/node-io.js';
import { PIXEL_RANGE, targetedCeL2 } from '../src/attacks/targeted-ce-l2.js';
import { computeSpectra, defendSpectral, SpectralSweep } from '../src/defences/spectral.js';
import { selectAttackExamples } from '../src/metrics/robustness.js';
import { MlpClassifier } from '../src/models/classifier.js';
import { trainClassifier } from '../src/models/train.js';
import { TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { table } from './util.js';

const { values } = parseArgs({
  options: { repeats: { type: 'string', default: '5' }, json: { type: 'boolean' } },
});
const repeats = Number(values.repeats);
await initBackend({ backend: 'wasm' });
const ds = await loadDataset('mnist', { dataDir: process.env.ROBUSTLAB_DATA ?? TEST_DATA_DIR });
const train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
const clf = MlpClassifier.create('2L', 784, { seed: 0 });
trainClassifier(clf, clf.net.variables(), train, { epochs: 3, seed: 0, silent: true });
const ex = selectAttackExamples(clf, ds.test.images, ds.test.labels, ds.test.n, {
  count: 20,
  seed: 0,
});
const attack = (fused: boolean) => () => {
  // confidence 1 is never reached: exactly 100 steps for every example
  targetedCeL2(clf, ex.x0, ex.n, ex.goals, {
    ...PIXEL_RANGE,
    confidence: 1,
    maxSteps: 100,
    silent: true,
    fused,
  });
};
/** Wall and CPU seconds (user + sys, all threads) of one call. */
function once(fn: () => void): { wall: number; cpu: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  fn();
  const d = process.cpuUsage(c);
  return { wall: (performance.now() - t) / 1000, cpu: (d.user + d.system) / 1e6 };
}
const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)];
/** Before and after, interleaved (one warm-up each), so load drifts hit both alike. */
function compare(before: () => void, after: () => void) {
  before();
  after();
  const b: { wall: number; cpu: number }[] = [];
  const a: typeof b = [];
  for (let i = 0; i < repeats; i++) {
    b.push(once(before));
    a.push(once(after));
  }
  const m = (r: typeof b) => ({
    wall: median(r.map((x) => x.wall)),
    cpu: median(r.map((x) => x.cpu)),
  });
  return { before: m(b), after: m(a), runs: { before: b, after: a } };
}
const results = {
  'attack 180 examples × 100 steps on 2L': compare(attack(false), attack(true)),
  'SVD sweep of 2L (20 fractions)': compare(
    () => {
      const spectra = computeSpectra(clf.net);
      for (let k = 0; k < 20; k++)
        defendSpectral(clf, { mode: 'scale', fraction: k * 0.05 }, spectra).dispose();
    },
    () => {
      const sweep = new SpectralSweep(clf);
      for (let k = 0; k < 20; k++) sweep.weightsAt({ mode: 'scale', fraction: k * 0.05 });
    },
  ),
};
if (values.json) console.log(JSON.stringify(results));
else
  console.log(
    table(
      [
        'stage',
        'before wall s',
        'after wall s',
        'before CPU s',
        'after CPU s',
        'after/before (CPU)',
      ],
      Object.entries(results).map(([name, r]) => [
        name,
        r.before.wall,
        r.after.wall,
        r.before.cpu,
        r.after.cpu,
        r.after.cpu / r.before.cpu,
      ]),
    ),
  );
clf.dispose();
