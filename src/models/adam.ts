/**
 * Adam with one fused kernel per variable (backend/host-kernels.ts) where the backend has it,
 * tf.train.adam elsewhere. Same update as tf.train.adam (β₁ 0.9, β₂ 0.999, ε = backend ε),
 * so the two agree to float32 rounding; the fused one costs 1 kernel per variable, not ~13.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_KERNEL, hasFusedAdam, type AdamAttrs } from '../backend/host-kernels.js';

export interface AdamOptimizer {
  /** One step on `vars` to minimise f(); returns the cost when asked (caller disposes). */
  minimize(f: () => tf.Scalar, returnCost: boolean, vars: tf.Variable[]): tf.Scalar | null;
  dispose(): void;
}

class FusedAdam implements AdamOptimizer {
  private readonly moments = new Map<tf.Variable, [tf.Variable, tf.Variable]>();
  /** β₁ᵗ and β₂ᵗ, kept in float32 as tf.train.adam keeps them (its 1 − β₂ᵗ at t = 1 is
   * 0.00099998713, not 0.001: matching that keeps the two optimisers within float rounding). */
  private accBeta1: number;
  private accBeta2: number;
  constructor(
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = tf.backend().epsilon(),
  ) {
    this.accBeta1 = Math.fround(beta1);
    this.accBeta2 = Math.fround(beta2);
  }

  minimize(f: () => tf.Scalar, returnCost: boolean, vars: tf.Variable[]): tf.Scalar | null {
    const { value, grads } = tf.variableGrads(f, vars);
    const attrs: AdamAttrs = {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      c1: Math.fround(1 - this.accBeta1),
      c2: Math.fround(1 - this.accBeta2),
    };
    this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(this.beta1));
    this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(this.beta2));
    for (const p of vars) {
      const g = grads[p.name];
      if (!g) continue;
      let mv = this.moments.get(p);
      if (!mv) {
        // in a tidy: minimize may be called outside one, and zerosLike would outlive it
        mv = tf.tidy(() => [
          tf.variable(tf.zerosLike(p), false),
          tf.variable(tf.zerosLike(p), false),
        ]) as [tf.Variable, tf.Variable];
        this.moments.set(p, mv);
      }
      const [m, v] = mv;
      const out = tf
        .engine()
        .runKernel(ADAM_KERNEL, { p, m, v, g }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      p.assign(out[0]);
      m.assign(out[1]);
      v.assign(out[2]);
      tf.dispose(out);
    }
    tf.dispose(Object.values(grads));
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  dispose(): void {
    for (const [m, v] of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
  }
}

/** Adam with learning rate `lr`: fused where the backend has the kernel (wasm, cpu). */
export function adam(lr: number, opts: { fused?: boolean } = {}): AdamOptimizer {
  if ((opts.fused ?? true) && hasFusedAdam()) return new FusedAdam(lr);
  const inner = tf.train.adam(lr);
  return {
    minimize: (f, returnCost, vars) => inner.minimize(f, returnCost, vars) as tf.Scalar | null,
    dispose: () => inner.dispose(),
  };
}
