/**
 * Does the transfer ordering (Figure 6) depend on the attack's optimiser? For a finished
 * `reproduce` run, attack each image classifier again in its own space with each optimiser
 * (the study's default NGD, and Adam), transfer the successful adversarial images to the 12
 * latent classifiers of the same seed, and print adversarial accuracy per latent space (pooled
 * over the 3 sources × 3 architectures, 95% Wilson interval) beside the adversaries' size.
 *
 *   node --import tsx bench/transfer-optimizer.ts --run /tmp/studyrun [--count 20] [--data-dir D]
 *
 * Writes nothing into the run (adversaries go to a temporary directory).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { TARGETED_CE_L2_DEFAULTS } from '../src/attacks/targeted-ce-l2.js';
import { runAttackJob } from '../src/experiments/attack-job.js';
import { transferAccuracy } from '../src/experiments/transfer-job.js';
import { splitStageName, type Stage } from '../src/experiments/stages.js';
import { wilsonInterval } from '../src/metrics/intervals.js';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    count: { type: 'string', default: '20' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    // Only the adversaries' size per dataset (the attacks are deterministic: same as with transfer).
    'sizes-only': { type: 'boolean' },
  },
});
if (!values.run) {
  console.error('usage: node --import tsx bench/transfer-optimizer.ts --run DIR [--count N]');
  process.exit(1);
}
await initBackend({});
const graph = JSON.parse(readFileSync(join(values.run, 'graph.json'), 'utf8')) as {
  stages: Stage[];
};
const dirOf = new Map(graph.stages.map((s) => [s.name, s.dir]));
const count = Number(values.count);
const LATENT = ['ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'];
const ARCHS = ['1L', '2L', 'LRL'];
const tmp = mkdtempSync(join(tmpdir(), 'robustlab-transfer-opt-'));
const rows: Record<string, unknown>[] = [];
try {
  const images = graph.stages.filter((s) => /^classifier\/[^/]+\/image\/[^/]+/.test(s.name));
  for (const optimizer of ['ngd', 'adam'] as const) {
    const stepSize = TARGETED_CE_L2_DEFAULTS.stepSize[optimizer];
    const per: Record<string, { k: number; n: number }> = {};
    const size: Record<string, { rel: number; succ: number; attacked: number }> = {};
    for (const img of images) {
      const { base, seed } = splitStageName(img.name);
      const [, d, , arch] = base.split('/');
      const out = join(tmp, `${optimizer}-${d}-${arch}-${seed}`);
      const r = await runAttackJob({
        modelDir: join(img.dir, 'model'),
        mode: 'own-space',
        count,
        seed: seed ?? 0,
        dataDir: values['data-dir'],
        attack: { ...TARGETED_CE_L2_DEFAULTS, optimizer, stepSize, silent: true },
        out,
        silent: true,
      });
      const z = (size[d] ??= { rel: 0, succ: 0, attacked: 0 });
      z.rel += r.record.summary.robustness * r.record.summary.successes;
      z.succ += r.record.summary.successes;
      z.attacked += r.record.summary.n;
      if (values['sizes-only']) continue;
      for (const sp of LATENT)
        for (const a of ARCHS) {
          const name = `classifier/${d}/${sp}/${a}${seed === null ? '' : `/seed${seed}`}`;
          const c = transferAccuracy(out, join(dirOf.get(name)!, 'model'), seed ?? 0);
          const key = `${d} ${sp}`;
          per[key] ??= { k: 0, n: 0 };
          per[key].k += Math.round(c.accuracy * c.n);
          per[key].n += c.n;
        }
    }
    const cells = values['sizes-only']
      ? Object.keys(size).map((d) => [d, { k: 0, n: 0 }] as const)
      : Object.entries(per);
    for (const [key, { k, n }] of cells) {
      const w = n ? wilsonInterval(k, n) : { lo: NaN, hi: NaN };
      const z = size[key.split(' ')[0]];
      rows.push({
        optimizer,
        cell: key,
        accuracy: n ? k / n : NaN,
        lo: w.lo,
        hi: w.hi,
        n,
        meanRelativeL2: z.rel / z.succ,
        successRate: z.succ / z.attacked,
      });
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (values.json) console.log(JSON.stringify(rows, null, 2));
else
  for (const r of rows as any[])
    console.log(
      `${r.optimizer.padEnd(5)} ${r.cell.padEnd(28)} ${(r.accuracy * 100).toFixed(1).padStart(5)}% [${(r.lo * 100).toFixed(1)}, ${(r.hi * 100).toFixed(1)}] n=${r.n}  adversaries: success ${(r.successRate * 100).toFixed(0)}%, mean rel. L2 ${r.meanRelativeL2.toFixed(3)}`,
    );
