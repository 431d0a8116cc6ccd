/**
 * A test file with a test that computes synchronously for more than a few seconds on a quiet
 * machine (so possibly near vitest's 60 s RPC timeout on a loaded one) calls slowTests() at its
 * top level; vitest-setup.ts then pauses 250 ms before each of its tests. Kept free of imports:
 * the setup file loads it for every test file.
 */
export const SLOW_TESTS = '__robustlabSlowTests';

export function slowTests(): void {
  (globalThis as Record<string, unknown>)[SLOW_TESTS] = true;
}
