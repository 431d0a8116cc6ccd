/**
 * Seeded pseudo-random numbers (sfc32 seeded through splitmix32). Every random choice in
 * robustlab takes a seed so that the same seed gives the same result.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** The generator's four words, as the loops that run its stream elsewhere need them. */
  state(): [number, number, number, number] {
    return [this.a, this.b, this.c, this.d];
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A fresh 31-bit seed, for handing to tfjs random ops or a child computation. */
  seed(): number {
    return this.nextU32() & 0x7fffffff;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

/**
 * Fill `out` with uniform numbers in [min, max) (float32), the stream of `new Rng(seed).next()`
 * scaled: min + (max − min)·u. The attacks' random starts draw here rather than through
 * tf.randomUniform, whose Alea generator is a serial float64 recurrence (~5 ns a value, 4 ms
 * for 1000 MNIST images, and no faster in native code); the tfjs and host paths of an attack
 * upload or use the very same numbers. `native` (the addon's sfc32Uniform, ~1 ns a value) runs
 * the loop when given; the JS loop, ~1.4 ns a value at first, drops to ~7 once V8 has seen
 * one of its int32 additions wrap and recompiles them in float64.
 */
export function fillUniform(
  out: Float32Array,
  min: number,
  max: number,
  seed: number,
  native?: Sfc32Fill,
): void {
  const [a0, b0, c0, d0] = new Rng(seed).state();
  if (native) return native(out, a0, b0, c0, d0, min, max - min);
  let a = a0 | 0;
  let b = b0 | 0;
  let c = c0 | 0;
  let d = d0 | 0;
  const range = max - min;
  for (let i = 0; i < out.length; i++) {
    // Rng.nextU32 inlined, in int32 arithmetic (the same bits)
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    out[i] = min + range * ((t >>> 0) / 4294967296);
  }
}

/**
 * fillUniform's loop done elsewhere from the generator's state (the addon's sfc32Uniform: the
 * same uint32 and float64 operations). Structural, so that this file imports no backend.
 */
export type Sfc32Fill = (
  out: Float32Array,
  a: number,
  b: number,
  c: number,
  d: number,
  min: number,
  range: number,
) => void;

/** Derive a child seed from a seed and a label, so independent parts get independent streams. */
export function deriveSeed(seed: number, label: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return new Rng(h).seed();
}
