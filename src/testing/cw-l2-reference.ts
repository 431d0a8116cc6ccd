/**
 * Test-only: CW-L2 as src/attacks/cw-l2.ts computed it before its step was made cheaper (every
 * loss, success and best-point test as tensor ops, Adam as ~13 tf ops). The attack file must
 * give the same results (cw-l2.test.ts); kept to test that, not to be used.
 */
import * as tf from '@tensorflow/tfjs';
import { predict, type Classifier } from '../models/classifier.js';
import { Progress } from '../util/progress.js';
import {
  checkAttackInputs,
  marginRows,
  recheckUntargeted,
  threatModel,
  type AttackResult,
} from '../attacks/base.js';
import { CW_L2_DEFAULTS, type CwL2Options } from '../attacks/cw-l2.js';

const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const NO_UPPER = 1e10;

export function cwL2Reference(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: CwL2Options = {},
): AttackResult {
  const D = CW_L2_DEFAULTS;
  threatModel({ norm: o.norm ?? 'l2' }, ['l2']);
  const steps = o.steps ?? D.steps;
  const searchSteps = o.binarySearchSteps ?? D.binarySearchSteps;
  const kappa = o.kappa ?? D.kappa;
  const lr = o.learningRate ?? D.learningRate;
  const c0 = o.initialConst ?? D.initialConst;
  const abortEarly = o.abortEarly ?? D.abortEarly;
  checkAttackInputs(clf, x0, n, labels, { targeted: false, maxSteps: steps, confidence: 1 });
  if (steps < 1) throw new RangeError(`steps must be ≥ 1 (got ${steps})`);
  if (!Number.isInteger(searchSteps) || searchSteps < 1)
    throw new RangeError(`binarySearchSteps must be an integer ≥ 1 (got ${searchSteps})`);
  if (!(kappa >= 0) || !(lr > 0) || !(c0 > 0))
    throw new RangeError('kappa must be ≥ 0, learningRate and initialConst > 0');

  const dim = clf.inputDim;
  const C = clf.numClasses;
  const bestX = Float32Array.from(x0.subarray(0, n * dim));
  const bestL2 = new Float64Array(n).fill(Infinity);
  const [c, lo, hi] = [new Float64Array(n).fill(c0), new Float64Array(n), new Float64Array(n)];
  hi.fill(NO_UPPER);
  const iters = new Int32Array(n);
  let passes = 0;
  const every = Math.max(1, Math.ceil(steps / 10));
  const bar = new Progress({
    label: 'cw-l2',
    total: searchSteps,
    unit: 'search step',
    silent: o.silent,
  });

  for (let s = 0; s < searchSteps && n > 0; s++) {
    const found = new Uint8Array(n);
    let active = Int32Array.from({ length: n }, (_, i) => i);
    const xo = tf.tensor2d(x0.subarray(0, n * dim), [n, dim]);
    // state per active row: x0, labels, c, w, Adam m and v, best L2 and point so far, found
    let st = {
      xo,
      y: tf.tensor1d(labels.subarray(0, n), 'int32'),
      c: tf.tensor2d(Float32Array.from(c), [n, 1]),
      w: tf.tidy(() => tf.atanh(tf.mul(tf.sub(tf.mul(xo, 2), 1), 1 - 1e-6))),
      m: tf.zeros([n, dim]),
      v: tf.zeros([n, dim]),
      l2: tf.tensor1d(Float32Array.from(bestL2, (d) => Math.min(d, NO_UPPER))),
      xb: tf.tensor2d(bestX, [n, dim]),
      hit: tf.zeros([n]),
    } as Record<string, tf.Tensor>;
    /** Copy the finished rows' results to the host and keep the others. */
    const finish = (done: Uint8Array) => {
      const [l2, xb, hit] = [st.l2.dataSync(), st.xb.dataSync(), st.hit.dataSync()];
      const keep: number[] = [];
      done.forEach((d, r) => {
        if (!d) return void keep.push(r);
        const i = active[r];
        found[i] = hit[r] ? 1 : 0;
        if (l2[r] < bestL2[i]) {
          bestL2[i] = l2[r];
          bestX.set(xb.subarray(r * dim, (r + 1) * dim), i * dim);
        }
      });
      const idx = tf.tensor1d(keep, 'int32');
      const old = st;
      st = Object.fromEntries(Object.entries(old).map(([k, t]) => [k, tf.gather(t, idx)]));
      tf.dispose([idx, ...Object.values(old)]);
      active = Int32Array.from(keep, (r) => active[r]);
    };
    let prev = new Float64Array(n).fill(Infinity);
    for (let t = 1; active.length > 0; t++) {
      const x = tf.tidy(() => tf.div(tf.add(tf.tanh(st.w), 1), 2)) as tf.Tensor2D;
      clf.prepare?.(x);
      const next = tf.tidy(() => {
        const { xo: x0t, y, c: ct } = st as Record<string, tf.Tensor2D>;
        let logits: tf.Tensor2D | undefined;
        let parts: tf.Tensor1D[] = [];
        const gx = tf.grad((xv: tf.Tensor) => {
          logits = tf.keep(clf.logits(xv as tf.Tensor2D));
          const l2sq = tf.keep(tf.sum(tf.square(tf.sub(xv, x0t)), 1));
          const f = tf.maximum(tf.neg(marginRows(logits, y as unknown as tf.Tensor1D)), -kappa);
          const loss = tf.keep(tf.add(l2sq, tf.mul(tf.squeeze(ct, [1]), f))) as tf.Tensor1D;
          parts = [l2sq as tf.Tensor1D, loss];
          return tf.sum(loss);
        })(x);
        const [l2sq, loss] = parts;
        // dx/dw = (1 − tanh²(w))/2 = 2x(1 − x)
        const gw = tf.mul(gx, tf.mul(tf.mul(x, tf.sub(1, x)), 2));
        const m = tf.add(tf.mul(st.m, ADAM.beta1), tf.mul(gw, 1 - ADAM.beta1));
        const v = tf.add(tf.mul(st.v, ADAM.beta2), tf.mul(tf.square(gw), 1 - ADAM.beta2));
        const step = tf.div(
          tf.div(m, 1 - ADAM.beta1 ** t),
          tf.add(tf.sqrt(tf.div(v, 1 - ADAM.beta2 ** t)), ADAM.eps),
        );
        // success with κ: the true class loses even after a κ head start
        const lifted = tf.add(logits!, tf.mul(tf.oneHot(y as unknown as tf.Tensor1D, C), kappa));
        const succ = tf.cast(tf.notEqual(tf.argMax(lifted, 1), y), 'float32');
        const l2 = tf.sqrt(l2sq);
        const better = tf.logicalAnd(tf.cast(succ, 'bool'), tf.less(l2, st.l2));
        const out = {
          ...st,
          w: tf.sub(st.w, tf.mul(step, lr)),
          m,
          v,
          l2: tf.where(better, l2, st.l2),
          xb: tf.where(tf.expandDims(better, 1), x, st.xb),
          hit: tf.maximum(st.hit, succ),
        };
        tf.dispose([logits!, l2sq]);
        return { out, loss };
      });
      x.dispose();
      passes += active.length;
      active.forEach((i) => iters[i]++);
      for (const k of ['w', 'm', 'v', 'l2', 'xb', 'hit']) st[k].dispose();
      st = next.out as Record<string, tf.Tensor>;
      const check = abortEarly && t % every === 0;
      const done = new Uint8Array(active.length);
      if (check) {
        const loss = next.loss.dataSync();
        done.forEach((_, r) => (done[r] = loss[r] > 0.9999 * prev[r] ? 1 : 0));
        prev = Float64Array.from(loss);
      }
      next.loss.dispose();
      if (t === steps) done.fill(1);
      if (done.some((d) => d)) {
        finish(done);
        prev = prev.filter((_, r) => !done[r]);
      }
    }
    tf.dispose(Object.values(st));
    for (let i = 0; i < n; i++) {
      if (found[i]) hi[i] = Math.min(hi[i], c[i]);
      else lo[i] = Math.max(lo[i], c[i]);
      c[i] = hi[i] < NO_UPPER ? (lo[i] + hi[i]) / 2 : c[i] * 10;
    }
    bar.tick(1, `succeeded ${bestL2.filter((d) => d < Infinity).length}/${n}`);
  }
  bar.finish(`succeeded ${bestL2.filter((d) => d < Infinity).length}/${n}`);

  const success = Uint8Array.from(bestL2, (d) => (d < Infinity ? 1 : 0));
  const { labels: finalLabel, probs } = predict(clf, bestX, n);
  const goalProb = Float32Array.from({ length: n }, (_, i) => probs[i * C + labels[i]]);
  const r = { xAdv: bestX, success, steps: iters, goalProb, finalLabel, n, dim };
  recheckUntargeted(x0, r, labels);
  return { ...r, forwards: passes, backwards: passes };
}
