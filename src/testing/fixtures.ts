/**
 * Test fixtures: the real datasets (from ../shared/datasets, or $ROBUSTLAB_TEST_DATA) and a
 * backend initialised once per test file.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../backend/backend.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** $ROBUSTLAB_TEST_DATA, else ../shared/datasets beside the clone. */
export const TEST_DATA_DIR =
  process.env.ROBUSTLAB_TEST_DATA ?? resolve(REPO_ROOT, '../shared/datasets');

export async function testBackend(): Promise<void> {
  await initBackend({ backend: process.env.ROBUSTLAB_TEST_BACKEND ?? 'wasm' });
}

/**
 * Let the event loop run. Training is synchronous; a test that computes for over a minute
 * without yielding starves vitest's worker RPC (which then times out), so long tests call this
 * between phases.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** max |a − b| over max |b|: the relative difference the native-vs-tfjs tests bound. */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / scale;
}
