#!/usr/bin/env node
// Bundle examples/page for the browser with esbuild (what any bundler does with 'robustlab'),
// copy the tfjs wasm binaries next to it, and optionally a model and the test images:
//
//   node examples/page/build.mjs --out DIR [--model MODEL_DIR] [--data-dir DATA_DIR]
//   cd DIR && python3 -m http.server     # then open http://localhost:8000/
import { build } from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: { out: { type: 'string' }, model: { type: 'string' }, 'data-dir': { type: 'string' } },
});
const out = o.out ?? join(here, 'dist');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'main.js')],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  outfile: join(out, 'main.js'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
const wasmDir = dirname(
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'),
);
for (const f of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
])
  copyFileSync(join(wasmDir, 'dist', f), join(out, f));
if (o.model) cpSync(o.model, join(out, 'model'), { recursive: true });
if (o['data-dir']) {
  mkdirSync(join(out, 'data'), { recursive: true });
  for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) {
    const src = join(o['data-dir'], 'mnist', f);
    if (existsSync(src)) copyFileSync(src, join(out, 'data', f));
  }
}
console.log(`built ${out}`);
