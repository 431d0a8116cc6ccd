/**
 * The host APGD run (fused-apgd.ts) against apgd.ts's tfjs run on real MNIST models: the same
 * adversarials, iteration counts, successes and pass counts, bit for bit, for APGD-CE and
 * APGD-DLR at L∞ and L2 and for APGD-T (targeted DLR), with budgets where rows succeed at many
 * different iterations, some never, and the checkpoints halve steps.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeLoops } from '../backend/host-kernels.js';
import { loadDataset } from '../data/node-io.js';
import { type Arch, MlpClassifier } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { expectSameAttack } from '../testing/same-attack.js';
import { apgd, apgdT, type ApgdOptions } from './apgd.js';
import type { AttackResult } from './base.js';
import { apgdInitJs, apgdStepJs, INIT_EPS, ROOT_EPS } from './fused-apgd.js';
import { hostRowNorms } from './norms.js';
import { Rng } from '../util/rng.js';

const native = () => !!nativeLoops()?.sgemm;
const N = 80;
let train: { x: Float32Array; y: Int32Array; n: number; dim: number };
let test: { x: Float32Array; y: Int32Array };

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 6000, limitTest: N });
  train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  test = { x: ds.test.images, y: ds.test.labels };
}, 600_000);

function trained(arch: Arch, seed: number): MlpClassifier {
  const clf = MlpClassifier.create(arch, 784, { seed });
  trainClassifier(clf, clf.net.variables(), train, { epochs: 2, seed, silent: true });
  return clf;
}

type Attack = (clf: MlpClassifier, o: ApgdOptions) => AttackResult;
const ce: Attack = (clf, o) => apgd(clf, test.x, N, test.y, { ...o, silent: true });
const dlr: Attack = (clf, o) => apgd(clf, test.x, N, test.y, { ...o, loss: 'dlr', silent: true });
const targeted: Attack = (clf, o) =>
  apgdT(clf, test.x, N, test.y, { ...o, nTargetClasses: 3, silent: true });

async function compare(attack: Attack, clf: MlpClassifier, o: ApgdOptions) {
  const before = tf.memory().numTensors;
  const fused = attack(clf, o);
  expect(tf.memory().numTensors).toBe(before);
  await yieldToEventLoop();
  const ref = attack(clf, { ...o, fused: false });
  expectSameAttack(fused, ref);
  const dist = hostRowNorms(fused.xAdv, test.x, N, 784, o.norm ?? 'linf');
  expect(Math.max(...dist)).toBeLessThanOrEqual(o.eps! * (1 + 1e-5));
  expect(fused.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  return { successes: fused.success.reduce((s, v) => s + v, 0) };
}

describe('fused APGD', () => {
  it('2L, L∞: APGD-CE (2 restarts), APGD-DLR and APGD-T equal the tfjs path bit for bit', async () => {
    if (!native()) return;
    const clf = trained('2L', 1);
    // 30 iterations on rows that stay robust: checkpoints at 6, 11, 15, … halve steps and
    // restart from the best point
    const o = { eps: 0.03, norm: 'linf' as const, steps: 30, seed: 2 };
    const a = await compare(ce, clf, { ...o, restarts: 2 });
    expect(a.successes).toBeGreaterThan(5);
    expect(a.successes).toBeLessThan(N);
    await compare(dlr, clf, o);
    await compare(targeted, clf, o);
    clf.dispose();
  }, 600_000);

  it('LRL, L2: APGD-CE and APGD-T equal the tfjs path bit for bit', async () => {
    if (!native()) return;
    const clf = trained('LRL', 3);
    const o = { eps: 1.0, norm: 'l2' as const, steps: 25, seed: 5 };
    const a = await compare(ce, clf, o);
    expect(a.successes).toBeGreaterThan(5);
    expect(a.successes).toBeLessThan(N);
    await compare(targeted, clf, o);
    clf.dispose();
  }, 600_000);

  it("the addon's apgdStep and apgdInit equal their JS forms bit for bit", () => {
    const loops = nativeLoops();
    if (!loops?.apgdStep || !loops.apgdInit) return;
    const rng = new Rng(8);
    const rows = 5;
    const d = 263;
    const rand = (scale: number, zeroEvery = 0) =>
      Float32Array.from({ length: rows * d }, (_, i) =>
        zeroEvery && i % zeroEvery === 0 ? 0 : (rng.next() - 0.5) * scale,
      );
    const x0 = Float32Array.from(rand(1), (v, i) => (i % 9 === 0 ? 0 : i % 10 === 0 ? 1 : v + 0.5));
    const x = Float32Array.from(x0, (v, i) => v + (i % 3) * 0.01);
    const xOld = Float32Array.from(x0, (v, i) => v - (i % 4) * 0.01);
    const g = rand(1e-5, 7);
    g.fill(0, 0, d); // a row without gradient
    const eta = Float32Array.from({ length: rows }, (_, r) => 0.6 / 2 ** r);
    for (const mode of [0, 1]) {
      for (const [a, eps] of [
        [1, 0.3],
        [0.75, 0.05],
        [0.75, 2],
      ]) {
        const [p, q] = [new Float32Array(x.length), new Float32Array(x.length)];
        loops.apgdStep(x, xOld, g, x0, eta, p, rows, d, a, 1 - a, eps, mode, ROOT_EPS);
        apgdStepJs(x, xOld, g, x0, eta, q, rows, d, a, 1 - a, eps, mode, ROOT_EPS);
        expect(Array.from(p)).toEqual(Array.from(q));
      }
    }
    const t = rand(2);
    const [u, v] = [t.slice(), t.slice()];
    loops.apgdInit(x0, u, rows, d, 0.3, INIT_EPS);
    apgdInitJs(x0, v, rows, d, 0.3, INIT_EPS);
    expect(Array.from(u)).toEqual(Array.from(v));
    expect(() => loops.apgdStep!(x, xOld, g, x0, eta, x, rows, d, 1, 0, 0.3, 0, ROOT_EPS)).toThrow(
      /alias/,
    );
  });
});
