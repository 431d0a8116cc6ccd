/**
 * Fix for the wasm backend's slow transposed matmul.
 *
 * XNNPACK in tfjs-backend-wasm 4.x is fast for plain A·B but takes a ~12x slower path
 * when `transposeA` or `transposeB` is set, and every backward pass of a dense layer uses
 * them (dW = xᵀ·dy, dx = dy·Wᵀ). We re-register BatchMatMul and _FusedMatMul so that a
 * transposed operand is first materialised with the (cheap, memory-bound) Transpose kernel
 * and the original kernel then runs untransposed. Results are identical up to float32
 * summation order.
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

function wrap(original: KernelConfig): KernelFunc {
  return (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
    const backend = args.backend as { disposeData(id: unknown): void };
    const inputs = { ...args.inputs } as Record<string, TensorInfo>;
    const temps: TensorInfo[] = [];
    if (attrs.transposeA)
      temps.push((inputs.a = transposeLast2(inputs.a, backend, original.backendName)));
    if (attrs.transposeB)
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
