import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Classifier, MlpClassifier } from '../models/classifier.js';
import { smallMnistLrl, testFgsm, testPgd } from '../testing/evaluation-fixtures.js';
import { testBackend } from '../testing/fixtures.js';
import { runChecks, type CheckId, type CheckResult } from './checks.js';
import { evaluateRobustness, type AttackSpec } from './robust-accuracy.js';

let clf: MlpClassifier;
let other: MlpClassifier;
let x: Float32Array;
let y: Int32Array;
const N = 40;

const fgsm = { name: 'fgsm', fn: testFgsm };
const pgd = { name: 'pgd', fn: testPgd, options: { steps: 10 } };

beforeAll(async () => {
  await testBackend();
  ({ clf, x, y } = await smallMnistLrl({ test: N }));
  ({ clf: other } = await smallMnistLrl({ test: N, seed: 7 }));
});

function wrap(logits: (x: tf.Tensor2D) => tf.Tensor2D): Classifier {
  return { inputDim: 784, numClasses: 10, logits, dispose: () => {} };
}

function suite(
  model: Classifier,
  o: { transfer?: Classifier; only?: CheckId[]; eps?: number } = {},
) {
  const EPS = o.eps ?? 0.1;
  const attacks: AttackSpec[] = [
    { name: 'pgd', fn: testPgd, kind: 'bounded', options: { steps: 10 } },
  ];
  const ev = evaluateRobustness(model, x, y, N, { norm: 'linf', eps: EPS, attacks, silent: true });
  const checks = runChecks({
    clf: model,
    judge: model,
    draws: 1,
    randomnessHandled: false,
    x,
    labels: y,
    norm: 'linf',
    eps: EPS,
    seed: 0,
    evaluation: ev,
    subset: N,
    fgsm,
    iterative: pgd,
    square: { name: 'square-standin', fn: testPgd, options: { steps: 10 } },
    rerun: (b, _r, m) =>
      evaluateRobustness(model, x, y, m, {
        norm: 'linf',
        eps: EPS,
        attacks: [{ ...attacks[0], options: { steps: 10 * b } }],
        silent: true,
      }),
    transferSource: o.transfer,
    only: o.only,
  });
  return Object.fromEntries(checks.map((c) => [c.id, c])) as Record<CheckId, CheckResult>;
}

describe('reliability checks', () => {
  it('stay quiet on a plain LRL', () => {
    const before = tf.memory().numTensors;
    const c = suite(clf, { transfer: other });
    expect(tf.memory().numTensors).toBe(before);
    for (const r of Object.values(c)) expect(r.status, `${r.id}: ${r.detail}`).toBe('pass');
    expect(Object.keys(c)).toHaveLength(9);
  });

  it('fire on a randomised forward pass', () => {
    let calls = 0;
    const noisy = wrap((xb) =>
      tf.tidy(() =>
        tf.add(clf.logits(xb), tf.randomNormal([xb.shape[0], 10], 0, 1, 'float32', calls++)),
      ),
    );
    const c = suite(noisy, { only: ['randomised', 'probabilities'] });
    expect(c.randomised.status).toBe('fail');
    expect(c.randomised.numbers.maxOutputDistance as number).toBeGreaterThan(1e-4);
    expect(c.probabilities.status).toBe('pass');
  });

  it('fire on a model that outputs softmax probabilities', () => {
    const soft = wrap((xb) => tf.tidy(() => tf.softmax(clf.logits(xb))));
    const c = suite(soft, { only: ['probabilities', 'randomised'] });
    expect(c.probabilities.status).toBe('fail');
    expect(c.randomised.status).toBe('pass');
  });

  it('fire on an input quantiser with zero gradient (masking), incl. transfer', () => {
    // 4 grey levels: round() has a zero gradient everywhere, the classifier still works.
    const quantised = wrap((xb) => tf.tidy(() => clf.logits(tf.div(tf.round(tf.mul(xb, 3)), 3))));
    const c = suite(quantised, { transfer: other, eps: 0.3 });
    expect(c['zero-gradient'].status).toBe('fail');
    expect(c['zero-gradient'].numbers.fraction).toBe(1);
    // with zero gradients PGD cannot move, even with the whole box allowed
    expect(c.unbounded.status).toBe('fail');
    // an undefended model's adversarials do break it: masking, caught by transfer
    expect(c.transfer.status).toBe('fail');
    expect(c.probabilities.status).toBe('pass');
  });
});
