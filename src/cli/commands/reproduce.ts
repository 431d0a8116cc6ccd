import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { isNativeMatmulInstalled } from '../../backend/native-matmul.js';
import { DATASET_NAMES, type DatasetName } from '../../data/datasets.js';
import { PRESETS } from '../../experiments/presets.js';
import { reproduce } from '../../experiments/reproduce.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  lookup,
  output,
  parseOptions,
  path,
  SEED_OPTION,
  strs,
} from '../args.js';
import { checkOutDir, readJsonOrNull } from '../outputs.js';

/** More workers than cores only adds backends competing for the same cores. */
export const MAX_WORKERS = Math.max(1, availableParallelism());

export const OPTIONS = {
  dataset: choice([...DATASET_NAMES, 'all'] as const, { default: 'all' }),
  preset: choice(Object.keys(PRESETS), { default: 'quick' }),
  out: path({ help: 'default runs/<preset>' }),
  workers: int({ min: 1, max: MAX_WORKERS, help: 'parallel stages (default: number of cores)' }),
  ...SEED_OPTION,
  force: strs({ help: 'recompute a stage (name, prefix or kind); repeatable' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

export const HELP = `usage: robustlab reproduce [--dataset mnist|fashion-mnist|all] [--preset paper|quick] [--out DIR]

Runs the whole study as a graph of stages: image classifiers, AE/VAE, the 4 code datasets,
latent classifiers, attacks (own-space and pixel-space), transfer, SVD sweeps, then figures and
report (report.html, report.md, results.json, figures/*.svg|png in --out).
Every stage's output is stored under --out keyed by a hash of its settings and inputs; a finished
stage is never recomputed, so an interrupted run resumes where it stopped. One process at a time
works in a run directory (a second one is refused while the first holds its lock).

options:
  --dataset D     mnist | fashion-mnist | all (default all)
  --preset P      quick (default: small subsets, a few minutes on 2 cores) | paper (the study's
                  settings: full splits, 50/150 epochs, 500 projection steps, 180 examples) | smoke
  --out DIR       default runs/<preset>; a new or empty directory, or an earlier run
  --workers N     parallel stages in worker threads, 1..${MAX_WORKERS} (default: number of cores)
  --seed S        0..4294967295 (default 0)
  --force STAGE   recompute a stage (name, prefix such as classifier/mnist, or kind); repeatable
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, OPTIONS, { command: 'reproduce' });
  if (helpRequested(v, HELP)) return;
  const datasets: DatasetName[] = v.dataset === 'all' ? [...DATASET_NAMES] : [v.dataset];
  const preset = lookup(PRESETS, v.preset, 'preset');
  const out = v.out ?? `runs/${preset.name}`;
  checkOutDir(out, {
    what: 'reproduce run',
    isOurs: (dir) => ({ ours: !!readJsonOrNull(join(dir, 'graph.json')) }),
    log: () => {},
  });
  const backend = await initBackend({ backend: v.backend });
  const workers = v.workers ?? MAX_WORKERS;
  const say = v.quiet ? undefined : (l: string) => process.stderr.write(l + '\n');
  const banner = () =>
    say?.(
      `robustlab reproduce: preset ${preset.name}, ${datasets.join(' + ')}, out ${out}, ` +
        `${workers} worker${workers === 1 ? '' : 's'}, compute ${backend}` +
        `${isNativeMatmulInstalled(backend) ? ' + native OpenBLAS' : ''}`,
    );
  const onInterrupt = () => {
    process.stderr.write(
      `\nrobustlab: interrupted; finished stages are kept in ${out}. Resume with the same command: robustlab reproduce ${argv.join(' ')}\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const r = await reproduce({
      datasets,
      preset,
      out,
      seed: v.seed,
      workers,
      backend: v.backend,
      dataDir: v['data-dir'],
      force: v.force.length ? v.force : undefined,
      log: say,
      live: !!process.stderr.isTTY && !v.quiet,
      onStart: banner,
    });
    output(v.json, { command: 'reproduce', ...r }, () =>
      [
        `reproduction done in ${r.seconds.toFixed(0)} s (${r.computed.length} stages computed, ${r.cached.length} reused)`,
        ...r.claims.map(
          (c) =>
            `  [${c.supported === null ? 'n/a' : c.supported ? 'yes' : 'no '}] ${c.dataset}: ${c.claim} — ${c.evidence}`,
        ),
        `report: ${r.report}`,
      ].join('\n'),
    );
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}
