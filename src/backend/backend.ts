/**
 * Tensor backend selection. wasm (XNNPACK, SIMD) is the default: it runs in Node and in a
 * browser with the same numbers. `cpu` is the pure-JS reference. `tensorflow` is used only
 * when @tensorflow/tfjs-node happens to be installed (it cannot be installed on every machine).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { RobustlabError } from '../data/errors.js';
import { installHostKernels } from './host-kernels.js';
import { installMatmulFix } from './matmul-fix.js';
import {
  installNativeMatmul,
  loadNativeMatmul,
  nativeGemmAcc,
  nativeSvd,
} from './native-matmul.js';
import { setGemmProvider, setSvdProvider } from './linalg.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendOptions {
  backend?: BackendName | string;
  /** Apply the transposed-matmul fix on wasm (default true; unused when native matmul is on). */
  matmulFix?: boolean;
  /**
   * Use the native OpenBLAS matmul on wasm when the addon was built at install (default true;
   * env ROBUSTLAB_NATIVE=0 turns it off). Falls back to the wasm kernel with the fix.
   */
  native?: boolean;
  /**
   * Install backend/host-kernels.ts: row gather on wasm, fused Adam on wasm and cpu (default
   * true; env ROBUSTLAB_HOST_KERNELS=0 turns them off, for benchmarks).
   */
  hostKernels?: boolean;
}

export function parseBackendName(s: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(s)) return s as BackendName;
  throw new RobustlabError(`unknown backend '${s}' (expected one of: ${BACKENDS.join(', ')})`);
}

/** Initialise the tensor backend once per process (or worker). */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendName> {
  const name = parseBackendName(opts.backend ?? 'wasm');
  if (name === 'tensorflow') {
    try {
      // Optional dependency: resolved at run time, never required at install.
      const mod = '@tensorflow/tfjs-node';
      await import(/* @vite-ignore */ mod);
    } catch {
      throw new RobustlabError(
        "backend 'tensorflow' needs @tensorflow/tfjs-node, which is not installed (use --backend wasm)",
      );
    }
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new RobustlabError(`backend '${name}' failed to initialise`);
  }
  await tf.ready();
  const native = opts.native ?? process.env.ROBUSTLAB_NATIVE !== '0';
  if (name === 'wasm') {
    if (!(native && installNativeMatmul('wasm')) && opts.matmulFix !== false)
      installMatmulFix('wasm');
  }
  // JS kernels over the backend's memory: row gather (wasm) and fused Adam (wasm, cpu).
  if (opts.hostKernels ?? process.env.ROBUSTLAB_HOST_KERNELS !== '0')
    installHostKernels(name, native ? loadNativeMatmul() : null);
  // LAPACK's SVD for the spectral defence when the native addon is there (any backend).
  setSvdProvider(native && nativeSvd(new Float64Array([1]), 1, 1) ? nativeSvd : null);
  const probe = new Float64Array([2]);
  setGemmProvider(
    native && nativeGemmAcc(1, 1, 1, probe, probe, new Float64Array(1)) ? nativeGemmAcc : null,
  );
  return name;
}
