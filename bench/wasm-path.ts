/**
 * The study and evaluation stages on the pure wasm path: what a browser, or a machine without
 * OpenBLAS, runs. Started by `npm run bench -- --only wasm` (bench/run.ts) as its own process
 * with ROBUSTLAB_NATIVE=0, so that no native kernel is installed in it and its wasm heap is its
 * own; prints one JSON line of seconds per stage. The workloads are bench/stages.ts's and
 * bench/eval-stages.ts's, the very ones the native bench times against PyTorch.
 *
 *   node --import tsx bench/wasm-path.ts --data-dir DIR [--repeats 2] [--eval-n 1000 --eval-eps 0.3,0.1] [--no-eval]
 *
 * Stages of over 3 s get no warm-up run (the JIT is warm long before they end); the others one.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { nativeLoops } from '../src/backend/host-kernels.js';
import { loadDataset } from '../src/data/node-io.js';
import { EVAL_MODEL_DIR, evalModel, evalStages, evalWorkloads } from './eval-stages.js';
import { workloads, type Workload } from './stages.js';

export interface WasmTiming {
  median: number;
  min: number;
  runs: number[];
}

export interface WasmPathOut {
  threads: number;
  stages: Record<string, WasmTiming>;
  eval: Record<string, WasmTiming & { robustAccuracy: number }>;
}

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    repeats: { type: 'string', default: '2' },
    'eval-n': { type: 'string', default: '1000' },
    'eval-eps': { type: 'string', default: '0.3,0.1' },
    'no-eval': { type: 'boolean' },
  },
});
const repeats = Number(values.repeats);
const dataDir = values['data-dir'];

/** Seconds of `repeats` runs, after one warm-up run unless that run took over 3 s. */
function timeStage(w: Workload): WasmTiming {
  let t = performance.now();
  w.run();
  const first = (performance.now() - t) / 1000;
  const runs = first > 3 ? [first] : [];
  while (runs.length < repeats) {
    t = performance.now();
    w.run();
    runs.push((performance.now() - t) / 1000);
  }
  const s = [...runs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], runs };
}

const log = (s: string) => process.stderr.write(s + '\n');
const { wasmThreadCount } = await import('../src/backend/backend-core.js');
await initBackend({ backend: 'wasm', native: false });
if (nativeLoops()) throw new Error('wasm-path bench: the native addon is loaded');
const out: WasmPathOut = { threads: wasmThreadCount(), stages: {}, eval: {} };
const ds = await loadDataset('mnist', { dataDir });
for (const w of workloads(ds)) {
  w.setup?.();
  out.stages[w.name] = timeStage(w);
  w.teardown?.();
  log(`  wasm path: ${w.name}: ${out.stages[w.name].median.toFixed(3)} s`);
}
if (!values['no-eval']) {
  // the model bench/run.ts trained (or found) before starting this process
  const clf = await evalModel(dataDir ?? '', EVAL_MODEL_DIR);
  const n = Number(values['eval-n']);
  const robust: Record<string, number> = {};
  const stages = evalStages(n, values['eval-eps']!.split(',').map(Number));
  for (const w of evalWorkloads(clf, ds, n, stages, robust)) {
    out.eval[w.name] = { ...timeStage(w), robustAccuracy: robust[w.name] };
    log(`  wasm path: ${w.name}: ${out.eval[w.name].median.toFixed(3)} s`);
  }
  clf.dispose();
}
console.log(JSON.stringify(out));
