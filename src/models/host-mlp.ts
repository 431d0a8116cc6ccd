/**
 * A classifier MLP (linear or ReLU hidden layers, linear output) held as host Float32Arrays and
 * run with the native addon's sgemm, for loops where tfjs's per-kernel dispatch, not arithmetic,
 * was the cost: the targeted attack's step (src/attacks/fused-ce-l2.ts) and the spectral sweep's
 * accuracy passes (one set of modified weights per fraction, no tfjs model built for it).
 *
 * Same arithmetic as the tfjs path with the addon installed: a dense layer there is the native
 * `_FusedMatMul` (sgemm seeded with the bias), its input gradient the native `BatchMatMul` with
 * transposeB, and here they are the very same sgemm calls (same shapes, flags and order), so the
 * logits and input gradients are bit-for-bit those of the tfjs path (host-mlp.test.ts checks).
 * Browser-safe: the loops come from host-kernels' registry, absent in a browser (then null).
 */
import * as tf from '@tensorflow/tfjs';
import { nativeLoops, type NativeElementwise } from '../backend/host-kernels.js';
import { tidyData } from '../util/tidy-data.js';
import { type Arch, type Classifier, MlpClassifier } from './classifier.js';
import { Mlp, type MlpSpec } from './mlp.js';

export type HostLoops = Required<Pick<NativeElementwise, 'sgemm'>> & NativeElementwise;
export interface LayerWeights {
  W: Float32Array;
  b: Float32Array;
}

/**
 * The addon's loops, when loaded on the wasm backend (whose matmuls are then the same sgemm) and
 * `spec` is a classifier MLP the host path covers; else null. On the cpu backend tfjs multiplies
 * in JS, so the host path would round differently: it stays off there.
 */
export function hostMlpLoops(spec: MlpSpec): HostLoops | null {
  const loops = nativeLoops();
  if (!loops?.sgemm || tf.getBackend() !== 'wasm') return null;
  const layers = spec.layers;
  const hiddenOk = layers
    .slice(0, -1)
    .every((l) => l.activation === 'linear' || l.activation === 'relu');
  return hiddenOk && layers[layers.length - 1].activation === 'linear'
    ? (loops as HostLoops)
    : null;
}

export class HostMlp {
  readonly dims: number[];
  readonly relu: boolean[];
  /** acts[i + 1]: output of layer i (acts[0] unused: the caller's x is read in place). */
  private acts: Float32Array[] = [];
  private deltas: Float32Array[] = [];
  private capacity = 0;

  constructor(
    readonly spec: MlpSpec,
    readonly weights: LayerWeights[],
    readonly loops: HostLoops,
  ) {
    this.dims = [spec.inputDim, ...spec.layers.map((l) => l.units)];
    this.relu = spec.layers.map((l) => l.activation === 'relu');
    if (weights.length !== spec.layers.length)
      throw new Error(`expected ${spec.layers.length} layers of weights, got ${weights.length}`);
    weights.forEach(({ W, b }, i) => {
      if (W.length !== this.dims[i] * this.dims[i + 1] || b.length !== this.dims[i + 1])
        throw new Error(
          `layer ${i}: weight shape does not match ${this.dims[i]}x${this.dims[i + 1]}`,
        );
    });
  }

  /** A host copy of `net`'s weights, or null when the addon or the architecture does not allow it. */
  static of(net: Mlp): HostMlp | null {
    const loops = hostMlpLoops(net.spec);
    return loops ? new HostMlp(net.spec, net.weightsData(), loops) : null;
  }

  get inputDim(): number {
    return this.dims[0];
  }

  get numClasses(): number {
    return this.dims[this.dims.length - 1];
  }

  private reserve(n: number): void {
    if (n <= this.capacity) return;
    this.capacity = n;
    this.acts = this.dims.map((d, i) => (i === 0 ? new Float32Array(0) : new Float32Array(n * d)));
    this.deltas = this.dims.slice(1).map((d) => new Float32Array(n * d));
  }

  /**
   * Logits of the first n rows of x (row-major [≥ n, inputDim]); the returned view is this net's
   * buffer, valid until the next forward. Keeps the activations for `backwardInput`.
   */
  forward(x: Float32Array, n: number): Float32Array {
    this.reserve(n);
    const L = this.weights.length;
    let h = x;
    for (let i = 0; i < L; i++) {
      const out = this.acts[i + 1];
      this.loops.sgemm(
        false,
        false,
        n,
        this.dims[i + 1],
        this.dims[i],
        h,
        this.weights[i].W,
        out,
        null,
        null,
        null,
        null,
        this.weights[i].b,
        this.relu[i] ? 1 : 0,
      );
      h = out;
    }
    return this.acts[L].subarray(0, n * this.dims[L]);
  }

  /**
   * dx = dL/dx for the rows of the last forward, given dL/dlogits (row-major [n, classes]):
   * δ·Wᵀ layer by layer, zeroed where a ReLU was inactive. dx: [≥ n, inputDim].
   */
  backwardInput(dlogits: Float32Array, n: number, dx: Float32Array): void {
    const L = this.weights.length;
    let delta = dlogits;
    for (let i = L - 1; i >= 0; i--) {
      const out = i === 0 ? dx : this.deltas[i - 1];
      this.loops.sgemm(
        false,
        true,
        n,
        this.dims[i],
        this.dims[i + 1],
        delta,
        this.weights[i].W,
        out,
      );
      if (i > 0 && this.relu[i - 1]) {
        const h = this.acts[i];
        const len = n * this.dims[i];
        if (this.loops.reluMask) this.loops.reluMask(out, h, len);
        else for (let t = 0; t < len; t++) if (!(h[t] > 0)) out[t] = 0;
      }
      delta = out;
    }
  }
}

/** tf.softmax of host logits [rows, cols]: the backend's own kernel, so equal to the tfjs path. */
export function softmaxRows(logits: Float32Array, rows: number, cols: number): Float32Array {
  return tidyData(() => tf.softmax(tf.tensor2d(logits.subarray(0, rows * cols), [rows, cols])));
}

/**
 * A classifier given by host weights, e.g. one spectral-defence fraction: with the addon, its
 * predictions run on the host (`hostLogits`) and the targeted attack takes its fused path, so
 * no tfjs model is built; `logits` (any other consumer, or no addon) builds the tfjs model
 * once, lazily. Same results either way.
 */
export class HostMlpClassifier implements Classifier {
  readonly host: HostMlp | null;
  private model: MlpClassifier | null = null;

  constructor(
    readonly arch: Arch,
    readonly spec: MlpSpec,
    readonly weights: LayerWeights[],
  ) {
    const loops = hostMlpLoops(spec);
    this.host = loops ? new HostMlp(spec, weights, loops) : null;
  }

  get inputDim(): number {
    return this.spec.inputDim;
  }

  get numClasses(): number {
    return this.spec.layers[this.spec.layers.length - 1].units;
  }

  /** The tfjs model of these weights (built on first use, owned by this classifier). */
  tfModel(): MlpClassifier {
    this.model ??= new MlpClassifier(this.arch, Mlp.fromWeights(this.spec, this.weights));
    return this.model;
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    return this.tfModel().logits(x);
  }

  hostLogits(x: Float32Array, n: number): Float32Array | null {
    return this.host ? this.host.forward(x, n) : null;
  }

  dispose(): void {
    this.model?.dispose();
    this.model = null;
  }
}

/** The host form of a plain MLP classifier when the addon can run it; else null (tfjs path). */
export function hostNet(clf: Classifier): HostMlp | null {
  if (clf instanceof HostMlpClassifier) return clf.host;
  if (clf instanceof MlpClassifier) return HostMlp.of(clf.net);
  const own = (clf as Partial<HostCapable>).hostNet;
  return typeof own === 'function' ? own.call(clf) : null;
}

/**
 * A classifier that is an MLP underneath but not one of the classes above, e.g. the evaluation's
 * pass-counting wrapper: it hands out the host form itself (null when there is none), so that
 * the fused attack paths stay open through it.
 */
export interface HostCapable {
  hostNet(): HostMlp | null;
}

/**
 * A HostMlp that reports the rows of every forward and input-gradient pass and runs them on
 * `inner` (same results, and inner's buffers: the returned logits and the activations for
 * backwardInput are inner's, valid until inner's next forward).
 */
export class CountingHostMlp extends HostMlp {
  constructor(
    private readonly inner: HostMlp,
    private readonly onPass: (kind: 'forward' | 'backward', rows: number) => void,
  ) {
    super(inner.spec, inner.weights, inner.loops);
  }

  override forward(x: Float32Array, n: number): Float32Array {
    this.onPass('forward', n);
    return this.inner.forward(x, n);
  }

  override backwardInput(dlogits: Float32Array, n: number, dx: Float32Array): void {
    this.onPass('backward', n);
    this.inner.backwardInput(dlogits, n, dx);
  }
}

/**
 * `clf` with host predictions when it is an MLP the addon can run (for `predict`, whose
 * host path is bit-equal to its tfjs one): itself when it already has them or has no host
 * form, else a view that adds `hostLogits` and forwards the rest. `hostNet` is asked once, unless
 * the caller hands in the host form it already has.
 */
export function withHostLogits(clf: Classifier, known?: HostMlp | null): Classifier {
  if (clf.hostLogits) return clf;
  const host = known ?? hostNet(clf);
  if (!host) return clf;
  return {
    get inputDim() {
      return clf.inputDim;
    },
    get numClasses() {
      return clf.numClasses;
    },
    logits: (x) => clf.logits(x),
    prepare: clf.prepare ? (x, o) => clf.prepare!(x, o) : undefined,
    hostLogits: (x, n) => host.forward(x, n),
    dispose: () => {},
  };
}
