/**
 * A dense multi-layer perceptron held as plain tfjs variables. Every network in the study
 * (the classifiers, the autoencoder, the VAE's encoder and decoder) is one of these, which
 * keeps the forward pass a few fused matmuls and lets the spectral defence reach each W.
 */
import * as tf from '@tensorflow/tfjs';
import { dense } from '../backend/host-kernels.js';
import { Rng } from '../util/rng.js';

export type Activation = 'linear' | 'relu' | 'leakyRelu' | 'sigmoid';
export const LEAKY_RELU_ALPHA = 0.2;

export interface DenseSpec {
  units: number;
  activation: Activation;
}

export interface MlpSpec {
  inputDim: number;
  layers: DenseSpec[];
}

export interface DenseLayer {
  W: tf.Variable<tf.Rank.R2>;
  b: tf.Variable<tf.Rank.R1>;
  activation: Activation;
}

export function activate(x: tf.Tensor2D, a: Activation): tf.Tensor2D {
  switch (a) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, LEAKY_RELU_ALPHA);
    case 'sigmoid':
      return tf.sigmoid(x);
  }
}

function makeLayer(w: Float32Array, b: Float32Array, fanIn: number, l: DenseSpec): DenseLayer {
  // tf.variable keeps its own reference to the data: dispose the initial tensors.
  const wt = tf.tensor2d(w, [fanIn, l.units]);
  const bt = tf.tensor1d(b);
  const layer = { W: tf.variable(wt, true), b: tf.variable(bt, true), activation: l.activation };
  wt.dispose();
  bt.dispose();
  return layer;
}

export class Mlp {
  readonly layers: DenseLayer[];

  private constructor(
    readonly spec: MlpSpec,
    layers: DenseLayer[],
  ) {
    this.layers = layers;
  }

  /**
   * PyTorch's nn.Linear initialisation, U(-1/√fan_in, 1/√fan_in) for W and b, as in the study.
   * Drawn from our own seeded generator so the weights depend on the seed only.
   */
  static create(spec: MlpSpec, seed: number): Mlp {
    const rng = new Rng(seed);
    let fanIn = spec.inputDim;
    const layers = spec.layers.map((l) => {
      const bound = 1 / Math.sqrt(fanIn);
      const w = new Float32Array(fanIn * l.units);
      for (let i = 0; i < w.length; i++) w[i] = (rng.next() * 2 - 1) * bound;
      const b = new Float32Array(l.units);
      for (let i = 0; i < b.length; i++) b[i] = (rng.next() * 2 - 1) * bound;
      const layer = makeLayer(w, b, fanIn, l);
      fanIn = l.units;
      return layer;
    });
    return new Mlp(spec, layers);
  }

  /** Build from explicit weight arrays (used by load and by the spectral defence). */
  static fromWeights(spec: MlpSpec, weights: { W: Float32Array; b: Float32Array }[]): Mlp {
    if (weights.length !== spec.layers.length) {
      throw new Error(`expected ${spec.layers.length} layers of weights, got ${weights.length}`);
    }
    let fanIn = spec.inputDim;
    const layers = spec.layers.map((l, i) => {
      const { W, b } = weights[i];
      if (W.length !== fanIn * l.units || b.length !== l.units) {
        throw new Error(`layer ${i}: weight shape does not match ${fanIn}x${l.units}`);
      }
      const layer = makeLayer(W, b, fanIn, l);
      fanIn = l.units;
      return layer;
    });
    return new Mlp(spec, layers);
  }

  get outputDim(): number {
    return this.spec.layers[this.spec.layers.length - 1].units;
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return this.forward(x, false);
  }

  /** The output before the last layer's activation (e.g. logits of a sigmoid output, for BCE). */
  applyPreActivation(x: tf.Tensor2D): tf.Tensor2D {
    return this.forward(x, true);
  }

  private forward(x: tf.Tensor2D, skipLast: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((l, i) => {
        // The bias is added inside the (native) matmul, not by a pass over [n, units]; the
        // gradient computes only what is differentiated (dx for attacks and projections).
        const a = dense(h, l.W, l.b);
        h = skipLast && i === this.layers.length - 1 ? a : activate(a, l.activation);
      });
      return h;
    });
  }

  variables(): tf.Variable[] {
    return this.layers.flatMap((l) => [l.W, l.b]);
  }

  /** Copy weights out to host memory (row-major W of shape [in, out]). */
  weightsData(): { W: Float32Array; b: Float32Array }[] {
    return this.layers.map((l) => ({
      W: l.W.dataSync() as Float32Array,
      b: l.b.dataSync() as Float32Array,
    }));
  }

  numParams(): number {
    return this.layers.reduce((s, l) => s + l.W.size + l.b.size, 0);
  }

  dispose(): void {
    for (const l of this.layers) {
      l.W.dispose();
      l.b.dispose();
    }
  }
}

/** Same layer sizes and activations (for checking a loaded network against its metadata). */
export function sameSpec(a: MlpSpec, b: MlpSpec): boolean {
  return (
    a.inputDim === b.inputDim &&
    a.layers.length === b.layers.length &&
    a.layers.every(
      (l, i) => l.units === b.layers[i].units && l.activation === b.layers[i].activation,
    )
  );
}

/** "784 → 256 → 10 (linear, linear)", for messages. */
export function describeSpec(s: MlpSpec): string {
  return [s.inputDim, ...s.layers.map((l) => l.units)].join(' → ');
}
