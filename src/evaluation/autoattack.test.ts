import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostRowNorms } from '../attacks/norms.js';
import type { MlpClassifier } from '../models/classifier.js';
import { smallMnistLrl } from '../testing/evaluation-fixtures.js';
import { testBackend } from '../testing/fixtures.js';
import { AUTOATTACK_SETTINGS, autoAttack, autoAttackSpecs } from './autoattack.js';
import { AUTOATTACK_LIBRARY } from './registry.js';
import { budgetTolerance, evaluateRobustness } from './robust-accuracy.js';

let clf: MlpClassifier;
let x: Float32Array;
let y: Int32Array;
const N = 24;

beforeAll(async () => {
  await testBackend();
  ({ clf, x, y } = await smallMnistLrl({ test: N }));
});

describe('autoattack on a real MNIST LRL', () => {
  it('has the reference settings', () => {
    const specs = autoAttackSpecs(AUTOATTACK_LIBRARY);
    expect(specs.map((s) => s.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(specs[1].options).toMatchObject({ steps: 100, nTargetClasses: 9, restarts: 1 });
    expect(specs[2].options).toMatchObject({ steps: 100, nTargetClasses: 9, targeted: true });
    expect(specs[3].options).toMatchObject({ steps: 5000, pInit: 0.8 });
    const rand = autoAttackSpecs(AUTOATTACK_LIBRARY, { version: 'rand' });
    expect(rand.map((s) => [s.name, s.options.loss, s.options.eotIter])).toEqual([
      ['apgd-ce', 'ce', 20],
      ['apgd-dlr', 'dlr', 20],
    ]);
    expect(AUTOATTACK_SETTINGS.apgdCe.rho).toBe(0.75);
  });

  it('is ≤ each of its attacks alone on the same points, within ε, memory flat', () => {
    const norm = 'linf';
    const eps = 0.1;
    const before = tf.memory().numTensors;
    const aa = autoAttack(clf, x, y, N, AUTOATTACK_LIBRARY, { norm, eps, silent: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(aa.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    // each stage runs only on what the previous left robust
    for (let k = 1; k < aa.attacks.length; k++)
      expect(aa.attacks[k].attacked).toBe(Math.round(aa.attacks[k - 1].robustAccuracyAfter * N));
    for (const spec of autoAttackSpecs(AUTOATTACK_LIBRARY)) {
      const alone = evaluateRobustness(clf, x, y, N, {
        norm,
        eps,
        attacks: [spec],
        minNormOnAll: false,
        silent: true,
      });
      expect(aa.robustAccuracy, spec.name).toBeLessThanOrEqual(alone.robustAccuracy);
    }
    expect(aa.robustAccuracy).toBeLessThan(aa.cleanAccuracy);
    const d = hostRowNorms(aa.xAdv, x, N, 784, norm);
    for (let i = 0; i < N; i++)
      expect(d[i]).toBeLessThanOrEqual(eps + budgetTolerance(eps, norm, 784));
    expect(aa.attacks.every((a) => a.outOfBudget === 0)).toBe(true);
  });
});
