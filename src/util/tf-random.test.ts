import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../testing/fixtures.js';
import { Rng } from './rng.js';
import { tfRandomNormal } from './tf-random.js';

beforeAll(testBackend);

describe('tfRandomNormal', () => {
  it("draws exactly tf.randomNormal's numbers for a seed (even and odd sizes, the trainer's seeds)", () => {
    const rng = new Rng(9);
    const seeds = [1, 2, 12345, 0x7fffffff, ...Array.from({ length: 20 }, () => rng.seed() || 1)];
    const before = tf.memory().numTensors;
    for (const [i, seed] of seeds.entries()) {
      const shape: [number, number] = i % 3 === 0 ? [7, 5] : i % 3 === 1 ? [256, 32] : [92, 32];
      const t = tf.randomNormal(shape, 0, 1, 'float32', seed);
      const ref = t.dataSync() as Float32Array;
      t.dispose();
      const out = new Float32Array(shape[0] * shape[1]);
      tfRandomNormal(out, seed);
      expect(out).toEqual(ref);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects seed 0 (which tfjs replaces by Math.random)', () => {
    expect(() => tfRandomNormal(new Float32Array(4), 0)).toThrow(/non-zero seed/);
  });
});
