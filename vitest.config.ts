import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['src/testing/vitest-setup.ts'],
    // Tests train real models on real data: allow minutes, not seconds.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Two cores: one worker per core, each with its own wasm instance.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
