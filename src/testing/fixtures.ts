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
