/**
 * Tensor backend selection on Node: the browser-safe core (backend-core.ts) plus the native
 * OpenBLAS addon when it was built at install (matmul, SVD, fused loops). wasm is the default:
 * it runs in Node and in a browser with the same numbers. `cpu` is the pure-JS reference.
 * `tensorflow` is used only when @tensorflow/tfjs-node happens to be installed.
 */
import {
  type BackendName,
  type BackendOptions,
  initBackendWith,
  type NativeHooks,
} from './backend-core.js';
import {
  installNativeMatmul,
  loadNativeMatmul,
  nativeGemmAcc,
  nativeSvd,
} from './native-matmul.js';

export { BACKENDS, parseBackendName } from './backend-core.js';
export type { BackendName, BackendOptions } from './backend-core.js';

/** Initialise the tensor backend once per process (or worker), with the native addon if built. */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendName> {
  const native = opts.native ?? process.env.ROBUSTLAB_NATIVE !== '0';
  let hooks: NativeHooks | null = null;
  if (native) {
    const probe = new Float64Array([2]);
    hooks = {
      installMatmul: (b) => installNativeMatmul(b),
      loops: loadNativeMatmul(),
      svd: nativeSvd(new Float64Array([1]), 1, 1) ? nativeSvd : null,
      gemm: nativeGemmAcc(1, 1, 1, probe, probe, new Float64Array(1)) ? nativeGemmAcc : null,
    };
  }
  return initBackendWith(opts, hooks);
}
