/**
 * AE and VAE training without tfjs in the loop: forward, backward and Adam of the encoder and
 * decoder MLPs as BLAS calls and element-wise loops of the native addon over host
 * Float32Arrays, as models/native-fit.ts does for classifiers.
 *
 * Same algorithm as the tfjs path (generators.ts's Generator.loss through train.ts's fit):
 * same permutations and batches (the shared epochLoop), leaky ReLU (α = 0.2 in float32),
 * BCE summed over pixels from the decoder's pre-sigmoid output (the same native bceLogits
 * loop the tfjs path's fused kernel calls), for the VAE z = μ + exp(½ log σ²)·ε with ε drawn
 * by tf.randomNormal's generator from the same per-step seed (the very same numbers, without a
 * tensor: util/tf-random.ts) and KL(q(z|x) ‖ N(0, I)), the batch mean, and Adam with
 * tf.train.adam's float32 β-power bookkeeping. Results equal the tfjs path up to float32
 * summation order (native-generator-fit.test.ts compares them).
 *
 * The gradient is written out by hand (d = 1/n, the mean's weight, in float32 as tfjs has it):
 *   δ(logits) = (σ(l) − x)·d
 *   δ through a dense layer: dW = aᵀδ, db = 1ᵀδ, δ(input) = δWᵀ (skipped for the input batch);
 *   leaky ReLU: δ·(h > 0 ? 1 : α), from the layer's output h (h > 0 exactly where its input is)
 *   VAE, per latent unit, s = exp(½ lv), e = exp(lv):
 *     δμ  = δz + d·μ                        (the KL's −½·(−μ²))
 *     δlv = ½·δz·ε·s + d·½·(e − 1)           (reparameterisation + the KL's −½·(lv − e))
 * The weights are copied out of the variables at the start and assigned back at the end.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeLoops, type NativeElementwise } from '../backend/host-kernels.js';
import { LEAKY_RELU_ALPHA, type Mlp } from '../models/mlp.js';
import { nativeAdam } from '../models/native-fit.js';
import { epochLoop, type FitOptions, type HostData } from '../models/epoch-loop.js';
import { tfRandomNormal } from '../util/tf-random.js';
import type { Generator } from './generators.js';

/**
 * The addon's loops this trainer calls. leakyRelu, leakyReluBackward and scale are absent from
 * addons built before them; JS loops with the same float32 arithmetic stand in.
 */
export type NativeGeneratorLoops = Required<
  Pick<NativeElementwise, 'sgemm' | 'adam' | 'bceLogits'>
> &
  Pick<NativeElementwise, 'leakyRelu' | 'leakyReluBackward' | 'scale'>;

const ALPHA = Math.fround(LEAKY_RELU_ALPHA);

const hiddenOk = (net: Mlp) =>
  net.spec.layers
    .slice(0, -1)
    .every((l) => l.activation === 'linear' || l.activation === 'leakyRelu');
const lastActivation = (net: Mlp) => net.spec.layers[net.spec.layers.length - 1].activation;

/**
 * The loops, when the addon is loaded and the generator has the study's shape (linear/leaky
 * ReLU hidden layers, a sigmoid decoder output of the input's size, an AE code or the VAE's
 * [μ, log σ²] pair); else null, and the caller trains through tfjs.
 */
export function nativeGeneratorLoops(gen: Generator): NativeGeneratorLoops | null {
  const loops = nativeLoops();
  if (!loops?.sgemm || !loops.adam || !loops.bceLogits) return null;
  const { encoder: enc, decoder: dec } = gen;
  const latent = dec.spec.inputDim;
  const encLast = lastActivation(enc);
  const codeOk =
    gen.kind === 'ae'
      ? enc.outputDim === latent && (encLast === 'linear' || encLast === 'leakyRelu')
      : enc.outputDim === 2 * latent && encLast === 'linear';
  const ok =
    hiddenOk(enc) &&
    hiddenOk(dec) &&
    codeOk &&
    lastActivation(dec) === 'sigmoid' &&
    dec.outputDim === enc.spec.inputDim;
  return ok ? (loops as NativeGeneratorLoops) : null;
}

/** One MLP's host state: parameters, gradients, activations and pre-activation deltas. */
interface Chain {
  dims: number[];
  /** The layer's activation is a leaky ReLU (else linear, or the decoder's sigmoid: logits). */
  leaky: boolean[];
  /** W0, b0, W1, b1, ... */
  params: Float32Array[];
  grads: Float32Array[];
  /** acts[0] is the input; acts[i + 1] the output of layer i (the decoder's last: logits). */
  acts: Float32Array[];
  /** deltas[i]: dLoss/d(output of layer i); made dLoss/d(pre-activation) by backward. */
  deltas: Float32Array[];
}

function chain(net: Mlp, B: number, input?: Float32Array): Chain {
  const dims = [net.spec.inputDim, ...net.spec.layers.map((l) => l.units)];
  const params = net.layers.flatMap((l) => [
    l.W.dataSync().slice() as Float32Array,
    l.b.dataSync().slice() as Float32Array,
  ]);
  return {
    dims,
    leaky: net.spec.layers.map((l) => l.activation === 'leakyRelu'),
    params,
    grads: params.map((p) => new Float32Array(p.length)),
    acts: dims.map((d, i) => (i === 0 && input ? input : new Float32Array(B * d))),
    deltas: dims.slice(1).map((d) => new Float32Array(B * d)),
  };
}

function assignBack(net: Mlp, c: Chain): void {
  net.layers.forEach((l, i) => {
    tf.tidy(() => {
      l.W.assign(tf.tensor2d(c.params[2 * i], [c.dims[i], c.dims[i + 1]]));
      l.b.assign(tf.tensor1d(c.params[2 * i + 1]));
    });
  });
}

/** Train `gen` on host images `data` (targets = inputs); returns the mean loss per epoch. */
export function fitGeneratorNative(
  gen: Generator,
  loops: NativeGeneratorLoops,
  data: HostData,
  o: FitOptions,
  /** The VAE's noise seed of each step (called once per step, for the AE too, as the tfjs path). */
  noiseSeed: () => number,
): number[] {
  const d0 = gen.encoder.spec.inputDim;
  if (data.dim !== d0) throw new RangeError(`data has ${data.dim} features, the encoder ${d0}`);
  const vae = gen.kind === 'vae';
  const Z = gen.decoder.spec.inputDim;
  const B = Math.min(o.batchSize, Math.max(1, data.n));
  const enc = chain(gen.encoder, B);
  const Le = enc.dims.length - 1;
  // AE: the decoder reads the code where the encoder wrote it; VAE: the sample z.
  const dec = chain(gen.decoder, B, vae ? undefined : enc.acts[Le]);
  const Ld = dec.dims.length - 1;
  const x = enc.acts[0];
  const ones = new Float32Array(B).fill(1);
  const rowLoss = new Float32Array(B);
  const klRow = new Float64Array(B);
  const eps = new Float32Array(B * Z);
  // exp(½ log σ²) and exp(log σ²) of the forward pass, for the backward one
  const sdev = new Float32Array(B * Z);
  const vari = new Float32Array(B * Z);
  // AE: δ(code) lands in the encoder's last delta; VAE: δz, then δ[μ, log σ²] from it.
  const dz = vae ? new Float32Array(B * Z) : enc.deltas[Le - 1];
  const adamStep = nativeAdam(loops, [...enc.params, ...dec.params], o.lr);
  const allGrads = [...enc.grads, ...dec.grads];

  const leaky = (h: Float32Array, len: number) => {
    if (loops.leakyRelu) loops.leakyRelu(h, len, ALPHA);
    else for (let i = 0; i < len; i++) if (h[i] < 0) h[i] = Math.fround(ALPHA * h[i]);
  };
  const leakyBack = (g: Float32Array, h: Float32Array, len: number) => {
    if (loops.leakyReluBackward) loops.leakyReluBackward(g, h, len, ALPHA);
    else for (let i = 0; i < len; i++) if (!(h[i] > 0)) g[i] = Math.fround(ALPHA * g[i]);
  };
  const scale = (v: Float32Array, len: number, s: number) => {
    if (loops.scale) loops.scale(v, len, s);
    else for (let i = 0; i < len; i++) v[i] = Math.fround(v[i] * s);
  };

  const forward = (c: Chain, n: number) => {
    for (let i = 0; i + 1 < c.dims.length; i++) {
      loops.sgemm(false, false, n, c.dims[i + 1], c.dims[i], c.acts[i], c.params[2 * i],
        c.acts[i + 1], null, null, null, null, c.params[2 * i + 1], 0); // prettier-ignore
      if (c.leaky[i]) leaky(c.acts[i + 1], n * c.dims[i + 1]);
    }
  };
  /** From deltas[L − 1] = dLoss/d(output): parameter gradients, and δ(input) into dIn if given. */
  const backward = (c: Chain, n: number, dIn: Float32Array | null) => {
    const L = c.dims.length - 1;
    if (c.leaky[L - 1]) leakyBack(c.deltas[L - 1], c.acts[L], n * c.dims[L]);
    for (let i = L - 1; i >= 0; i--) {
      const g = c.deltas[i];
      loops.sgemm(true, false, c.dims[i], c.dims[i + 1], n, c.acts[i], g, c.grads[2 * i]); // aᵀ·δ
      loops.sgemm(false, false, 1, c.dims[i + 1], n, ones, g, c.grads[2 * i + 1]); // Σ rows of δ
      const out = i > 0 ? c.deltas[i - 1] : dIn;
      if (!out) break;
      loops.sgemm(false, true, n, c.dims[i], c.dims[i + 1], g, c.params[2 * i], out); // δ·Wᵀ
      if (i > 0 && c.leaky[i - 1]) leakyBack(out, c.acts[i], n * c.dims[i]);
    }
  };

  const step = (perm: Int32Array, s: number, e: number): number => {
    const n = e - s;
    const seed = noiseSeed();
    for (let r = 0; r < n; r++) {
      const j = perm[s + r];
      x.set(data.x.subarray(j * d0, (j + 1) * d0), r * d0);
    }
    forward(enc, n);
    const h = enc.acts[Le];
    if (vae) {
      // the tfjs path's draw, tf.randomNormal(mu.shape, 0, 1, 'float32', seed), without a tensor
      const e = eps.subarray(0, n * Z);
      if (seed) tfRandomNormal(e, seed);
      else {
        // seed 0: tfjs draws unseeded (Math.random) on both paths
        const t = tf.randomNormal([n, Z], 0, 1, 'float32', seed);
        e.set(t.dataSync() as Float32Array);
        t.dispose();
      }
      const z = dec.acts[0];
      for (let r = 0; r < n; r++) {
        let kl = 0;
        for (let c = 0, o = r * 2 * Z, q = r * Z; c < Z; c++) {
          const mu = h[o + c];
          const lv = h[o + Z + c];
          const sd = Math.fround(Math.exp(Math.fround(lv * 0.5)));
          const ex = Math.fround(Math.exp(lv));
          sdev[q + c] = sd;
          vari[q + c] = ex;
          z[q + c] = Math.fround(mu + Math.fround(sd * eps[q + c]));
          kl += 1 + lv - mu * mu - ex;
        }
        klRow[r] = -0.5 * kl;
      }
    }
    forward(dec, n);
    const gl = dec.deltas[Ld - 1];
    loops.bceLogits(dec.acts[Ld], x, rowLoss, gl, n, d0);
    let loss = 0;
    for (let r = 0; r < n; r++) loss += rowLoss[r] + (vae ? klRow[r] : 0);
    const d = Math.fround(1 / n); // tf.mean's gradient, in float32
    scale(gl, n * d0, d);
    backward(dec, n, dz);
    if (vae) {
      const g = enc.deltas[Le - 1];
      const hd = Math.fround(0.5 * d);
      for (let r = 0; r < n; r++)
        for (let c = 0, o = r * 2 * Z, q = r * Z; c < Z; c++) {
          const mu = h[o + c];
          const sd = sdev[q + c];
          const ex = vari[q + c];
          g[o + c] = Math.fround(dz[q + c] + Math.fround(d * mu));
          const rep = Math.fround(0.5 * Math.fround(Math.fround(dz[q + c] * eps[q + c]) * sd));
          g[o + Z + c] = Math.fround(rep + Math.fround(Math.fround(hd * ex) - hd));
        }
    }
    backward(enc, n, null);
    adamStep(allGrads);
    return Math.fround(loss / n);
  };

  const losses = epochLoop(data.n, o, step);
  assignBack(gen.encoder, enc);
  assignBack(gen.decoder, dec);
  return losses;
}
