// robustlab in a web page: bundled by examples/page/build.mjs (esbuild, platform=browser) from
// `import ... from 'robustlab'`. The wasm binaries are copied next to the bundle, and
// initBackend is told where they are.
import {
  PIXEL_RANGE,
  evaluate,
  fetchModel,
  hostRowNorms,
  imageClassifierFromParts,
  initBackend,
  predict,
  splitFromIdxBytes,
  targetedCeL2,
  wasmThreadCount,
} from 'robustlab';

const out = document.getElementById('out');
const log = (s) =>
  (out.textContent = (out.textContent === 'running…' ? '' : out.textContent) + s + '\n');
const q = new URLSearchParams(location.search);
const n = Number(q.get('n') ?? 500);

async function main() {
  const backend = await initBackend({ wasmPaths: new URL('./', location.href).href });
  log(`backend ${backend}, ${wasmThreadCount()} thread(s)`);
  const { meta, parts } = await fetchModel(q.get('model') ?? './model/');
  const { classifier } = imageClassifierFromParts(meta, parts, { seed: 0 });
  const bytes = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
  const test = await splitFromIdxBytes(
    await bytes(q.get('images') ?? './data/t10k-images-idx3-ubyte.gz'),
    await bytes(q.get('labels') ?? './data/t10k-labels-idx1-ubyte.gz'),
    { limit: n },
  );
  const { accuracy } = evaluate(classifier, test.images, test.labels, test.n);
  log(
    `${meta.dataset} ${meta.space} ${meta.arch}: accuracy ${(accuracy * 100).toFixed(1)}% on ${test.n} test images`,
  );
  const x0 = test.images.slice(0, 784);
  const clean = predict(classifier, x0, 1).labels[0];
  const goal = (clean + 1) % 10;
  const r = targetedCeL2(classifier, x0, 1, Int32Array.of(goal), { ...PIXEL_RANGE, silent: true });
  const l2 = hostRowNorms(r.xAdv, x0, 1, 784, 'l2')[0];
  log(
    `attack ${clean} → ${goal}: ${r.success[0] ? 'succeeded' : 'failed'} in ${r.steps[0]} steps, now ${r.finalLabel[0]}, ‖δ‖₂ = ${l2.toFixed(3)}`,
  );
  document.body.dataset.result = JSON.stringify({
    accuracy,
    success: r.success[0] === 1,
    finalLabel: r.finalLabel[0],
    goal,
    l2,
  });
  log('done');
}
main().catch((e) => {
  log(`error: ${e.message}`);
  document.body.dataset.result = JSON.stringify({ error: e.message });
});
