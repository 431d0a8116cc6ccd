import { initBackend } from '../../backend/backend.js';
import { DATASET_NAMES, type DatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { PRESETS } from '../../experiments/presets.js';
import { parseSeeds, sweep } from '../../experiments/sweep.js';
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
  required,
  str,
} from '../args.js';
import { MAX_WORKERS, QUEUE_OPTIONS, queueOption } from './reproduce.js';

export const OPTIONS = {
  seeds: str({ metavar: 'LIST', help: 'seeds: 0..9, 0,3,7 or a mix (required)' }),
  dataset: choice([...DATASET_NAMES, 'all'] as const, { default: 'all' }),
  preset: choice(Object.keys(PRESETS), { default: 'quick' }),
  out: path({ help: 'default runs/sweep-<preset>' }),
  workers: int({ min: 1, max: MAX_WORKERS, help: 'parallel stages (default: number of cores)' }),
  ...QUEUE_OPTIONS,
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

const HELP = `usage: robustlab sweep --seeds 0..9 [--dataset D] [--preset P] [--queue URL] [--out DIR]

Runs the study's stage graph once per seed (every stage takes the seed: initialisations,
projections, attacked examples) into one artifact directory, writes each seed's report to
<out>/seed-<s>/, and gathers every seed's numbers into one table with mean ± sd
(<out>/sweep.md, sweep.json). Finished stages are reused, so an interrupted sweep resumes; a
\`reproduce --seed S\` run in the same --out counts for seed S.
With --queue, all seeds' stages go on the queue at once for \`robustlab worker\`s on any number
of machines (docs/distributed.md); without, the seeds run one after another in worker threads.

options:
  --seeds LIST    0..9, 0,3,7 or a mix (required)
  --dataset D     mnist | fashion-mnist | all (default all)
  --preset P      quick (default) | paper | smoke | tiny (see robustlab reproduce --help)
  --out DIR       default runs/sweep-<preset>
  --workers N     without --queue: parallel stages in worker threads (default: number of cores)
  --queue URL     redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT
  --attempts N    with --queue: tries per stage before the sweep fails (default 2)
  env: ROBUSTLAB_REDIS_CA=FILE trusts a private CA for rediss://; ROBUSTLAB_REDIS_PASSWORD
       is the password when the URL has none
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, OPTIONS, { command: 'sweep' });
  if (helpRequested(v, HELP)) return;
  let seeds: number[];
  try {
    seeds = parseSeeds(required('seeds', v.seeds));
  } catch (e) {
    if (e instanceof RangeError) throw new RobustlabError(e.message);
    throw e;
  }
  const datasets: DatasetName[] = v.dataset === 'all' ? [...DATASET_NAMES] : [v.dataset];
  const preset = lookup(PRESETS, v.preset, 'preset');
  const queue = queueOption(v.queue, v.attempts);
  await initBackend({ backend: v.backend });
  const r = await sweep({
    datasets,
    preset,
    seeds,
    out: v.out ?? `runs/sweep-${preset.name}`,
    workers: v.workers,
    backend: v.backend,
    dataDir: v['data-dir'],
    log: v.quiet || v.json ? undefined : (l) => process.stderr.write(l + '\n'),
    queue,
  });
  output(v.json, { command: 'sweep', ...r }, () =>
    [
      `sweep of ${seeds.length} seeds done in ${r.wallSeconds.toFixed(0)} s (${r.computedStages} stages computed, ${r.reusedStages} reused)`,
      `table (per seed, mean ± sd): ${r.table}`,
      ...r.reports.map((p) => `  ${p}`),
    ].join('\n'),
  );
}
