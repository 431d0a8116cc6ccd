import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The lab: a static page built into dist/lab (relative URLs, works offline: the wasm binaries
// are emitted as assets next to the bundle). `robustlab lab` serves it.
export default defineConfig({
  root: resolve(import.meta.dirname),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: resolve(import.meta.dirname, '..', 'dist', 'lab'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
    assetsInlineLimit: 0,
  },
  worker: { format: 'es' },
});
