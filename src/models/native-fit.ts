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
import {
  epochLoopMany,
  type FitManyOptions,
  type FitOptions,
  type HostData,
} from './epoch-loop.js';

/** The addon's loops this trainer calls (reluMask, gatherRows: absent from addons built before them). */
export type NativeFitLoops = Required<Pick<NativeElementwise, 'sgemm' | 'adam'>> &
  Pick<NativeElementwise, 'reluMask' | 'gatherRows'>;

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

/**
 * One MLP classifier's training state on the host: its parameters (W0, b0, W1, b1, ...), their
 * gradients and Adam moments, its activations and deltas for a batch of up to B rows.
 */
class NativeTrainee {
  private readonly L: number;
  private readonly dims: number[];
  private readonly relu: boolean[];
  private readonly params: Float32Array[];
  private readonly grads: Float32Array[];
  private readonly adamStep: (grads: Float32Array[]) => void;
  /** acts[i + 1]: the output of layer i (the input batch is the caller's). */
  private readonly acts: Float32Array[];
  /** deltas[i]: dLoss/d(pre-activation of layer i). */
  private readonly deltas: Float32Array[];
  private readonly rowLoss: Float32Array;
  private readonly ones: Float32Array;

  constructor(
    private readonly net: Mlp,
    private readonly loops: NativeFitLoops,
    B: number,
    lr: number,
  ) {
    this.L = net.layers.length;
    this.dims = [net.spec.inputDim, ...net.spec.layers.map((l) => l.units)];
    this.relu = net.spec.layers.map((l) => l.activation === 'relu');
    this.params = net.layers.flatMap((l) => [
      l.W.dataSync().slice() as Float32Array,
      l.b.dataSync().slice() as Float32Array,
    ]);
    this.grads = this.params.map((p) => new Float32Array(p.length));
    this.adamStep = nativeAdam(loops, this.params, lr);
    this.acts = this.dims.map((d, i) => new Float32Array(i === 0 ? 0 : B * d));
    this.deltas = this.dims.slice(1).map((d) => new Float32Array(B * d));
    this.rowLoss = new Float32Array(B);
    this.ones = new Float32Array(B).fill(1);
  }

  /** One Adam step on the batch x (n rows, labels yb); returns its mean loss. */
  step(x: Float32Array, yb: Int32Array, n: number): number {
    const { L, dims, relu, params, grads, acts, deltas, loops } = this;
    const input = (i: number) => (i === 0 ? x : acts[i]);
    for (let i = 0; i < L; i++)
      loops.sgemm(
        false,
        false,
        n,
        dims[i + 1],
        dims[i],
        input(i),
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
    softmaxCeRows(acts[L], yb, this.rowLoss, g, n, dims[L]);
    let loss = 0;
    for (let r = 0; r < n; r++) loss += this.rowLoss[r];
    const k = dims[L] * n;
    for (let i = 0; i < k; i++) g[i] /= n;
    for (let i = L - 1; i >= 0; i--) {
      const gi = deltas[i];
      loops.sgemm(true, false, dims[i], dims[i + 1], n, input(i), gi, grads[2 * i]); // xᵀ·δ
      loops.sgemm(false, false, 1, dims[i + 1], n, this.ones, gi, grads[2 * i + 1]); // Σ rows of δ
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
    this.adamStep(grads);
    return Math.fround(loss / n);
  }

  /** Assign the trained weights to the net's variables. */
  writeBack(): void {
    const { dims, params } = this;
    this.net.layers.forEach((l, i) => {
      tf.tidy(() => {
        l.W.assign(tf.tensor2d(params[2 * i], [dims[i], dims[i + 1]]));
        l.b.assign(tf.tensor1d(params[2 * i + 1]));
      });
    });
  }
}

/** Rows perm[s..e) of data into x and their labels into y (the addon's loop when it has one). */
function gatherBatch(
  loops: NativeFitLoops,
  data: HostData & { y: Int32Array },
  perm: Int32Array,
  s: number,
  e: number,
  x: Float32Array,
  y: Int32Array,
): void {
  const d = data.dim;
  if (loops.gatherRows) {
    loops.gatherRows(data.x, d, perm, s, e, x, data.y, y);
    return;
  }
  for (let r = 0; r < e - s; r++) {
    const j = perm[s + r];
    y[r] = data.y[j];
    // short rows (32-d codes): a loop beats creating a subarray per row
    if (d < 128) for (let c = 0, o = r * d, q = j * d; c < d; c++) x[o + c] = data.x[q + c];
    else x.set(data.x.subarray(j * d, (j + 1) * d), r * d);
  }
}

/**
 * Train several MLP classifiers at once on the same labelled host data, with one seed: they see
 * the same permutation, so each mini-batch is gathered once and given to every model. Each
 * model's arithmetic is exactly what it would be trained alone (the same sgemm calls with the
 * same shapes, the same loss and Adam loops), so its weights and losses are bit-identical to
 * fitClassifierNative's for that model (native-fit.test.ts checks it). Its products are not
 * merged into one: a GEMM over concatenated weight columns rounds differently from the
 * separate GEMMs on most OpenBLAS kernel sets, and is not faster on one BLAS thread for these
 * shapes (docs/design.md, "Training several classifiers at once"). Returns each model's mean
 * loss per epoch.
 */
export function fitClassifiersNative(
  nets: Mlp[],
  loops: NativeFitLoops,
  data: HostData & { y: Int32Array },
  o: FitManyOptions,
): number[][] {
  if (!nets.length) throw new RangeError('no models to train');
  if (new Set(nets).size !== nets.length) throw new RangeError('a model is given twice');
  for (const net of nets)
    if (net.spec.inputDim !== data.dim)
      throw new RangeError(`data has ${data.dim} features, a net ${net.spec.inputDim}`);
  const B = Math.min(o.batchSize, Math.max(1, data.n));
  const x = new Float32Array(B * data.dim);
  const yb = new Int32Array(B);
  const trainees = nets.map((net) => new NativeTrainee(net, loops, B, o.lr));
  const losses = epochLoopMany(data.n, o, nets.length, (perm, s, e, out) => {
    gatherBatch(loops, data, perm, s, e, x, yb);
    for (let k = 0; k < trainees.length; k++) out[k] = trainees[k].step(x, yb, e - s);
  });
  for (const t of trainees) t.writeBack();
  return losses;
}

/** Train `net` with softmax cross-entropy on labelled host data; returns the mean loss per epoch. */
export function fitClassifierNative(
  net: Mlp,
  loops: NativeFitLoops,
  data: HostData & { y: Int32Array },
  o: FitOptions,
): number[] {
  const { onEpoch, ...rest } = o;
  return fitClassifiersNative([net], loops, data, {
    ...rest,
    onEpoch: onEpoch && ((epoch, means) => onEpoch(epoch, means[0])),
  })[0];
}
