import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { tidyData } from './tidy-data.js';

describe('tidyData', () => {
  it('returns the values of the tensor, frees it and every intermediate, and hands tidy only a tensor', () => {
    const before = tf.memory().numTensors;
    const engine = tf.engine() as unknown as { tidy: (...a: unknown[]) => unknown };
    const orig = engine.tidy;
    const returned: unknown[] = [];
    engine.tidy = (...a: unknown[]) => {
      const r = orig.apply(engine, a);
      returned.push(r);
      return r;
    };
    let v: Float32Array;
    try {
      v = tidyData(() => tf.add(tf.mul(tf.tensor1d([1, 2, 3]), 2), 1));
    } finally {
      engine.tidy = orig;
    }
    expect(Array.from(v)).toEqual([3, 5, 7]);
    expect(tf.memory().numTensors).toBe(before);
    // tidy's result is walked element by element when it is an array: it must be the tensor
    expect(returned.every((r) => r instanceof tf.Tensor)).toBe(true);
  });
});
