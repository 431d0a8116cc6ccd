import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The lab: a static page built into dist/lab (relative URLs, works offline: the wasm binaries
// are emitted as assets next to the bundle). `robustlab lab` serves it.
const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: resolve(here),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: resolve(here, '..', 'dist', 'lab'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
    assetsInlineLimit: 0,
  },
  worker: { format: 'es' },
});
