/**
 * Classifier training without tfjs in the loop: forward, backward and Adam for a dense MLP
 * (linear or ReLU hidden layers, linear output, softmax cross-entropy), written as BLAS calls
 * and element-wise loops of the native addon over host Float32Arrays.
 *
 * Why: a tfjs training step of a 3-layer MLP is ~50 kernels (matmuls, their reshapes,
 * bias-gradient sums, the loss, Adam), ~1.2 ms of dispatch per step before any arithmetic,
 * and autodiff also computes the gradient of the input batch, which training throws away
 * (a third of the first layer's backward pass, the biggest layer). PyTorch skips that product
 * and dispatches in ~0.6 ms. Here a step is ~12 sgemm calls and the rest is loops over
 * [batch, units]; the arithmetic is the same BLAS as PyTorch's.
 *
 * Same algorithm as train.ts's fit (same permutations, batches, Adam with tf.train.adam's
 * float32 β-power bookkeeping, mean loss), so results equal the tfjs path up to float32
 * summation order (native-fit.test.ts compares them). The weights are copied out of the
 * variables at the start and assigned back at the end; the variables are not touched between.
 * Browser-safe: the addon comes from host-kernels' registry, absent in a browser.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeLoops, softmaxCeRows, type NativeElementwise } from '../backend/host-kernels.js';
import type { Mlp } from './mlp.js';
import { epochLoop, type FitOptions, type HostData } from './train.js';

/** The addon's loops this trainer calls (reluMask is absent from addons built before it). */
export type NativeFitLoops = Required<Pick<NativeElementwise, 'sgemm' | 'adam'>> &
  Pick<NativeElementwise, 'reluMask'>;

/** The loops, when the addon is loaded and the net is a plain classifier MLP; else null. */
export function nativeFitLoops(net: Mlp): NativeFitLoops | null {
  const loops = nativeLoops();
  if (!loops?.sgemm || !loops.adam) return null;
  const layers = net.spec.layers;
  const hiddenOk = layers
    .slice(0, -1)
    .every((l) => l.activation === 'linear' || l.activation === 'relu');
  return hiddenOk && layers[layers.length - 1].activation === 'linear'
    ? (loops as NativeFitLoops)
    : null;
}

/**
 * Adam over host parameter arrays, updated in place by the addon's loop: the same update and
 * float32 β-power bookkeeping as tf.train.adam (and adam.ts's fused kernel). Returns the step,
 * given the gradients in the order of `params`.
 */
export function nativeAdam(
  loops: Required<Pick<NativeElementwise, 'adam'>>,
  params: Float32Array[],
  lr: number,
): (grads: Float32Array[]) => void {
  const m = params.map((p) => new Float32Array(p.length));
  const v = params.map((p) => new Float32Array(p.length));
  const eps = tf.backend().epsilon();
  const beta1 = 0.9;
  const beta2 = 0.999;
  let accBeta1 = Math.fround(beta1);
  let accBeta2 = Math.fround(beta2);
  return (grads) => {
    const c1 = Math.fround(1 - accBeta1);
    const c2 = Math.fround(1 - accBeta2);
    accBeta1 = Math.fround(accBeta1 * Math.fround(beta1));
    accBeta2 = Math.fround(accBeta2 * Math.fround(beta2));
    for (let p = 0; p < params.length; p++)
      loops.adam(
        params[p],
        m[p],
        v[p],
        grads[p],
        params[p],
        m[p],
        v[p],
        lr,
        beta1,
        beta2,
        eps,
        c1,
        c2,
      );
  };
}

/** Train `net` with softmax cross-entropy on labelled host data; returns the mean loss per epoch. */
export function fitClassifierNative(
  net: Mlp,
  loops: NativeFitLoops,
  data: HostData & { y: Int32Array },
  o: FitOptions,
): number[] {
  const L = net.layers.length;
  const dims = [net.spec.inputDim, ...net.spec.layers.map((l) => l.units)];
  if (data.dim !== dims[0])
    throw new RangeError(`data has ${data.dim} features, the net ${dims[0]}`);
  const relu = net.spec.layers.map((l) => l.activation === 'relu');
  const B = Math.min(o.batchSize, Math.max(1, data.n));
  // Parameters (W0, b0, W1, b1, ...), their gradients and Adam moments, all host copies.
  const params = net.layers.flatMap((l) => [
    l.W.dataSync().slice() as Float32Array,
    l.b.dataSync().slice() as Float32Array,
  ]);
  const grads = params.map((p) => new Float32Array(p.length));
  const adamStep = nativeAdam(loops, params, o.lr);
  // acts[0] is the input batch; acts[i + 1] the output of layer i. deltas[i]: dLoss/d(pre-act i).
  const acts = dims.map((d) => new Float32Array(B * d));
  const deltas = dims.slice(1).map((d) => new Float32Array(B * d));
  const yb = new Int32Array(B);
  const rowLoss = new Float32Array(B);
  const ones = new Float32Array(B).fill(1);
  const d0 = dims[0];

  const step = (perm: Int32Array, s: number, e: number): number => {
    const n = e - s;
    const x = acts[0];
    for (let r = 0; r < n; r++) {
      const j = perm[s + r];
      yb[r] = data.y[j];
      // short rows (32-d codes): a loop beats creating a subarray per row
      if (d0 < 128) for (let c = 0, o = r * d0, q = j * d0; c < d0; c++) x[o + c] = data.x[q + c];
      else x.set(data.x.subarray(j * d0, (j + 1) * d0), r * d0);
    }
    for (let i = 0; i < L; i++)
      loops.sgemm(
        false,
        false,
        n,
        dims[i + 1],
        dims[i],
        acts[i],
        params[2 * i],
        acts[i + 1],
        null,
        null,
        null,
        null,
        params[2 * i + 1],
        relu[i] ? 1 : 0,
      );
    // dLoss/dlogits of the batch mean: (softmax − onehot) / n.
    const g = deltas[L - 1];
    softmaxCeRows(acts[L], yb, rowLoss, g, n, dims[L]);
    let loss = 0;
    for (let r = 0; r < n; r++) loss += rowLoss[r];
    const k = dims[L] * n;
    for (let i = 0; i < k; i++) g[i] /= n;
    for (let i = L - 1; i >= 0; i--) {
      const gi = deltas[i];
      loops.sgemm(true, false, dims[i], dims[i + 1], n, acts[i], gi, grads[2 * i]); // xᵀ·δ
      loops.sgemm(false, false, 1, dims[i + 1], n, ones, gi, grads[2 * i + 1]); // Σ rows of δ
      if (i === 0) break; // the input batch needs no gradient
      const gPrev = deltas[i - 1];
      loops.sgemm(false, true, n, dims[i], dims[i + 1], gi, params[2 * i], gPrev); // δ·Wᵀ
      if (relu[i - 1]) {
        const h = acts[i];
        const len = n * dims[i];
        if (loops.reluMask) loops.reluMask(gPrev, h, len);
        else for (let t = 0; t < len; t++) if (!(h[t] > 0)) gPrev[t] = 0;
      }
    }
    adamStep(grads);
    return Math.fround(loss / n);
  };

  const losses = epochLoop(data.n, o, step);
  net.layers.forEach((l, i) => {
    tf.tidy(() => {
      l.W.assign(tf.tensor2d(params[2 * i], [dims[i], dims[i + 1]]));
      l.b.assign(tf.tensor1d(params[2 * i + 1]));
    });
  });
  return losses;
}
