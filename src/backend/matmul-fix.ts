/**
 * Fix for the wasm backend's slow transposed matmul.
 *
 * XNNPACK in tfjs-backend-wasm 4.x is fast for plain A·B but takes a ~12x slower path
 * when `transposeA` or `transposeB` is set, and every backward pass of a dense layer uses
 * them (dW = xᵀ·dy, dx = dy·Wᵀ). We re-register BatchMatMul and _FusedMatMul so that a
 * transposed operand is first materialised with the (cheap, memory-bound) Transpose kernel
 * and the original kernel then runs untransposed. Results are identical up to float32
 * summation order.
 *
 * A transposed B is kept while B itself lives (a few at a time): B is a layer's weights in
 * dense's input gradient (dy·Wᵀ), and an attack or a projection runs it on the same W at every
 * step. Then the Transpose pass is paid once, and XNNPACK's operator for the transposed tensor
 * (cached by tfjs-backend-wasm per B tensor, with its packed weights) is built once instead of
 * at every step: ~15% of a targeted-attack step on the pure wasm path. Tensors never change in
 * place, so the transpose of a live B is always current.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

const PATCHED = ['BatchMatMul', '_FusedMatMul'] as const;
const originals = new Map<string, KernelConfig>();

/** Swap the last two axes of `x` using the backend's own Transpose kernel. */
function transposeLast2(x: TensorInfo, backend: unknown, backendName: string): TensorInfo {
  const transpose = tf.getKernel('Transpose', backendName);
  if (!transpose) throw new Error(`backend ${backendName} has no Transpose kernel`);
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return transpose.kernelFunc({
    inputs: { x },
    backend: backend as never,
    attrs: { perm },
  }) as TensorInfo;
}

interface FixBackend {
  disposeData(id: unknown): void;
  dataIdMap?: { has(dataId: object): boolean };
}

/** Transposes of B by B's dataId (insertion order = age), at most CACHED_TRANSPOSES. */
const transposes = new Map<object, { t: TensorInfo; backend: FixBackend }>();
const CACHED_TRANSPOSES = 8;
let cacheTransposes = true;

/** Free the kept transposes whose B is gone, and the oldest beyond the limit. */
function pruneTransposes(limit: number): void {
  for (const [id, e] of transposes) {
    if (transposes.size <= limit && e.backend.dataIdMap?.has(id)) continue;
    e.backend.disposeData(e.t.dataId);
    transposes.delete(id);
  }
}

/** Keep B's transpose while B lives (default on); off frees the kept ones (tests, benchmarks). */
export function setTransposeCache(on: boolean): void {
  cacheTransposes = on;
  if (!on) pruneTransposes(0);
}

/** How many transposes are kept (tests). */
export function cachedTransposes(): number {
  return transposes.size;
}

function transposedB(b: TensorInfo, backend: FixBackend, backendName: string): TensorInfo {
  const hit = transposes.get(b.dataId);
  if (hit && hit.backend === backend) return hit.t;
  const t = transposeLast2(b, backend, backendName);
  if (backend.dataIdMap) {
    pruneTransposes(CACHED_TRANSPOSES - 1);
    transposes.set(b.dataId, { t, backend });
  }
  return t;
}

function wrap(original: KernelConfig): KernelFunc {
  return (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
    const backend = args.backend as FixBackend;
    const inputs = { ...args.inputs } as Record<string, TensorInfo>;
    const temps: TensorInfo[] = [];
    if (attrs.transposeA)
      temps.push((inputs.a = transposeLast2(inputs.a, backend, original.backendName)));
    if (attrs.transposeB && cacheTransposes && original.backendName === 'wasm')
      inputs.b = transposedB(inputs.b, backend, original.backendName);
    else if (attrs.transposeB)
      temps.push((inputs.b = transposeLast2(inputs.b, backend, original.backendName)));
    try {
      return original.kernelFunc({
        ...args,
        inputs,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

/** Install the fix on `backendName` (default wasm). Idempotent. Returns whether it is active. */
export function installMatmulFix(backendName = 'wasm'): boolean {
  for (const name of PATCHED) {
    const key = `${backendName}/${name}`;
    if (originals.has(key)) continue;
    const original = tf.getKernel(name, backendName);
    if (!original) continue;
    originals.set(key, original);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({ ...original, kernelFunc: wrap(original) });
  }
  return isMatmulFixInstalled(backendName);
}

/** Restore the original kernels (used by the benchmark and the equivalence test). */
export function uninstallMatmulFix(backendName = 'wasm'): void {
  pruneTransposes(0);
  for (const name of PATCHED) {
    const key = `${backendName}/${name}`;
    const original = originals.get(key);
    if (!original) continue;
    tf.unregisterKernel(name, backendName);
    tf.registerKernel(original);
    originals.delete(key);
  }
}

export function isMatmulFixInstalled(backendName = 'wasm'): boolean {
  return PATCHED.some((name) => originals.has(`${backendName}/${name}`));
}
