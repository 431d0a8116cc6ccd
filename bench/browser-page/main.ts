/**
 * In-page half of bench/browser.ts: one attack timing per page load (the wasm backend is
 * initialised once per page, with or without threads). Query: model=URL n=N steps=S threads=0|1.
 */
import * as tf from '@tensorflow/tfjs';
import {
  PIXEL_RANGE,
  fetchModel,
  imageClassifierFromParts,
  initBackend,
  splitFromIdxBytes,
  targetedCeL2,
  wasmThreadCount,
} from '../../src/index.js';

const q = new URLSearchParams(location.search);

async function main() {
  const threads = q.get('threads') !== '0';
  await initBackend({ wasmPaths: new URL('./', location.href).href, threads });
  const { meta, parts } = await fetchModel(q.get('model')!);
  const { classifier } = imageClassifierFromParts(meta, parts, { seed: 0 });
  const bytes = async (u: string) => new Uint8Array(await (await fetch(u)).arrayBuffer());
  const n = Number(q.get('n') ?? 1);
  const steps = Number(q.get('steps') ?? 100);
  const test = await splitFromIdxBytes(
    await bytes('./data/t10k-images-idx3-ubyte.gz'),
    await bytes('./data/t10k-labels-idx1-ubyte.gz'),
    { limit: n },
  );
  const goals = Int32Array.from(test.labels, (y) => (y + 1) % 10);
  // confidence 1: p(goal) ≥ 1 is never reached in float32 softmax short of saturation, so
  // every example takes exactly `steps` steps (a fixed-work timing, like a 100-step PGD).
  const run = (k: number) =>
    targetedCeL2(classifier, test.images, test.n, goals, {
      ...PIXEL_RANGE,
      maxSteps: k,
      confidence: 1,
      silent: true,
    });
  run(3); // warm-up: kernels, wasm memory growth
  const t0 = performance.now();
  const r = run(steps);
  const seconds = (performance.now() - t0) / 1000;
  const meanSteps = r.steps.reduce((s, v) => s + v, 0) / r.n;
  document.body.dataset.result = JSON.stringify({
    model: `${meta.space}/${meta.arch}`,
    hidden: meta.hidden,
    n,
    steps,
    meanSteps,
    threads: wasmThreadCount(),
    isolated: globalThis.crossOriginIsolated,
    mt: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    seconds,
  });
}
main().catch(
  (e) => (document.body.dataset.result = JSON.stringify({ error: String(e?.message ?? e) })),
);
