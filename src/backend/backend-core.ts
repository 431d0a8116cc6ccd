/**
 * Browser-safe tensor backend selection (no Node imports): wasm (XNNPACK, SIMD, and threads
 * when the page is cross-origin isolated) is the default, `cpu` is the pure-JS reference.
 * The Node entry (backend.ts) adds the native OpenBLAS addon through `NativeHooks`.
 *
 * In a bundled page the wasm binaries are not next to the script, so tell tfjs where the
 * bundler put them: `wasmPaths` is a URL prefix (ending in `/`) or a map from the file names
 * (`tfjs-backend-wasm.wasm`, `tfjs-backend-wasm-simd.wasm`, `tfjs-backend-wasm-threaded-simd.wasm`)
 * to URLs, e.g. from Vite's `import url from '...wasm?url'` (see docs/api.md).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { RobustlabError } from '../data/errors.js';
import type { NativeElementwise } from './host-kernels.js';
import { installHostKernels } from './host-kernels.js';
import { type GemmProvider, setGemmProvider, setSvdProvider, type SvdProvider } from './linalg.js';
import { installMatmulFix } from './matmul-fix.js';
import { installWasmKernels } from './wasm-kernels.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The wasm binaries of @tensorflow/tfjs-backend-wasm, by the names tfjs asks for. */
export const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
] as const;
export type WasmFile = (typeof WASM_FILES)[number];

export interface BackendOptions {
  backend?: BackendName | string;
  /** Apply the transposed-matmul fix on wasm (default true; unused when native matmul is on). */
  matmulFix?: boolean;
  /**
   * Use the native OpenBLAS matmul on wasm when the addon was built at install (Node entry only;
   * default true; env ROBUSTLAB_NATIVE=0 turns it off). Falls back to the wasm kernel with the fix.
   */
  native?: boolean;
  /**
   * Install backend/host-kernels.ts: row gather on wasm, fused Adam on wasm and cpu (default
   * true; env ROBUSTLAB_HOST_KERNELS=0 turns them off, for benchmarks).
   */
  hostKernels?: boolean;
  /** Where the wasm binaries are served (browser bundles): a URL prefix or a per-file map. */
  wasmPaths?: string | Partial<Record<WasmFile, string>>;
  /**
   * Multi-threaded wasm (default true): used when the platform allows it (Node, or a page that
   * is cross-origin isolated); false forces the single-threaded SIMD binary (benchmarks).
   */
  threads?: boolean;
  /**
   * Size of the wasm thread pool when threads are used (default: navigator.hardwareConcurrency
   * where there is one; tfjs's own default gives a pool of 1 in Chromium).
   */
  threadCount?: number;
}

/** What the Node entry plugs in: the native addon's kernels (all optional). */
export interface NativeHooks {
  /** Replace wasm's matmul; false when the addon is missing. */
  installMatmul(backendName: string): boolean;
  loops: NativeElementwise | null;
  svd: SvdProvider | null;
  gemm: GemmProvider | null;
}

export function parseBackendName(s: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(s)) return s as BackendName;
  throw new RobustlabError(`unknown backend '${s}' (expected one of: ${BACKENDS.join(', ')})`);
}

/** An environment variable where there is a `process` (Node), else undefined (browser). */
export function envVar(name: string): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return g.process?.env?.[name];
}

let wasmPathsSet = false;

/**
 * Initialise the tensor backend once per page, worker or process, without native code.
 * (`robustlab/node` exports an `initBackend` that also loads the OpenBLAS addon.)
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendName> {
  return initBackendWith(opts, null);
}

/** initBackend with the native kernels of `hooks` (null: pure wasm/cpu, as in a browser). */
export async function initBackendWith(
  opts: BackendOptions,
  hooks: NativeHooks | null,
): Promise<BackendName> {
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
  if (name === 'wasm' && tf.getBackend() !== 'wasm') {
    if (opts.wasmPaths !== undefined && !wasmPathsSet) {
      setWasmPaths(opts.wasmPaths as Parameters<typeof setWasmPaths>[0]);
      wasmPathsSet = true;
    }
    // Read by tfjs-backend-wasm when it picks its binary (before the backend is created).
    if (opts.threads === false) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    else {
      const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
      const n = opts.threadCount ?? nav?.hardwareConcurrency;
      if (n && n > 0) setThreadsCount(n);
    }
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new RobustlabError(`backend '${name}' failed to initialise`);
  }
  await tf.ready();
  if (name === 'wasm') {
    if (!(hooks && hooks.installMatmul('wasm')) && opts.matmulFix !== false)
      installMatmulFix('wasm');
  }
  // JS kernels over the backend's memory: row gather (wasm) and fused Adam (wasm, cpu).
  // And on wasm: buffers shared instead of copied by Identity and same-dtype Cast, and the
  // Sum/Mean gradients' broadcast as a fill (wasm-kernels.ts; same values).
  if (opts.hostKernels ?? envVar('ROBUSTLAB_HOST_KERNELS') !== '0') {
    installHostKernels(name, hooks?.loops ?? null);
    if (name === 'wasm') installWasmKernels();
  }
  // LAPACK's SVD / BLAS dgemm for the spectral defence when the native addon is there.
  setSvdProvider(hooks?.svd ?? null);
  setGemmProvider(hooks?.gemm ?? null);
  return name;
}

/** Threads of the wasm backend's pool (1 = single-threaded; 0 = not on wasm), after initBackend. */
export function wasmThreadCount(): number {
  if (tf.getBackend() !== 'wasm') return 0;
  try {
    return getThreadsCount();
  } catch {
    return 1;
  }
}
