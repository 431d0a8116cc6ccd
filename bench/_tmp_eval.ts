import { initBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/node-io.js';
import { evalModel, evalStages, evalWorkloads } from './eval-stages.js';
import { time } from './util.js';
await initBackend({ backend: 'wasm' });
const ds = await loadDataset('mnist', { dataDir: '/work/shared/datasets' });
const clf = await evalModel('/work/shared/datasets');
const n = Number(process.argv[2] ?? 1000);
const only = process.argv[4];
const robust: Record<string, number> = {};
for (const w of evalWorkloads(clf, ds, n, evalStages(n, [0.3]), robust)) {
  if (only && !w.name.startsWith(only)) continue;
  const t = time(() => w.run(), { warmup: 1, repeats: Number(process.argv[3] ?? 3) });
  console.log(w.name, t.median.toFixed(3), t.runs.map((x) => x.toFixed(3)).join(' '), 'robust', robust[w.name]);
}
