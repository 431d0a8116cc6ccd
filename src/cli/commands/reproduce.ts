import { initBackend } from '../../backend/backend.js';
import { DATASET_NAMES, parseDatasetName, type DatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { PRESETS } from '../../experiments/presets.js';
import { reproduce } from '../../experiments/reproduce.js';
import { choiceOpt, intOpt, output, parse, helpRequested } from '../args.js';

const HELP = `usage: robustlab reproduce [--dataset mnist|fashion-mnist|all] [--preset paper|quick] [--out DIR]

Runs the whole study as a graph of stages: image classifiers, AE/VAE, the 4 code datasets,
latent classifiers, attacks (own-space and pixel-space), transfer, SVD sweeps, then figures and
report (report.html, report.md, results.json, figures/*.svg|png in --out).
Every stage's output is stored under --out keyed by a hash of its settings and inputs; a finished
stage is never recomputed, so an interrupted run resumes where it stopped.

options:
  --dataset D     mnist | fashion-mnist | all (default all)
  --preset P      quick (default: small subsets, a few minutes on 2 cores) | paper (the study's
                  settings: full splits, 50/150 epochs, 500 projection steps, 180 examples) | smoke
  --out DIR       default runs/<preset>
  --workers N     parallel stages in worker threads (default: number of cores)
  --seeds LIST    seeds of every seed-dependent stage, e.g. 0,1,2 (default: the preset's;
                  paper 0,1,2, quick 0); tables and figures show the mean and 95% intervals
  --seed S        one seed (same as --seeds S)
  --optimizer O   the attack's optimiser: ngd (default) | sgd | adam (new attack, transfer and
                  SVD stages; classifiers and codes are reused)
  --force STAGE   recompute a stage (name, prefix such as classifier/mnist, or kind); repeatable
common: --json --quiet --backend --data-dir --help`;

/** --seeds 0,1,2 (distinct integers ≥ 0) or --seed S; undefined = the preset's seeds. */
function parseSeeds(list: string | undefined, one: string | undefined): number[] | undefined {
  if (list !== undefined && one !== undefined)
    throw new RobustlabError('give --seeds or --seed, not both');
  if (one !== undefined) return [intOpt('seed', one, 0)];
  if (list === undefined) return undefined;
  const seeds = list.split(',').map((x) => x.trim());
  if (!seeds.length || seeds.some((x) => !/^\d+$/.test(x)))
    throw new RobustlabError(
      `--seeds must be a comma-separated list of integers ≥ 0 (got '${list}')`,
    );
  const n = seeds.map(Number);
  if (new Set(n).size !== n.length)
    throw new RobustlabError(`--seeds has a repeated seed ('${list}')`);
  return n;
}

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    dataset: { type: 'string' },
    preset: { type: 'string' },
    out: { type: 'string' },
    workers: { type: 'string' },
    seed: { type: 'string' },
    seeds: { type: 'string' },
    optimizer: { type: 'string' },
    force: { type: 'string', multiple: true },
  });
  if (helpRequested(v, HELP)) return;
  const datasets: DatasetName[] =
    !v.dataset || v.dataset === 'all' ? [...DATASET_NAMES] : [parseDatasetName(v.dataset)];
  const chosen = PRESETS[v.preset ?? 'quick'];
  if (!chosen)
    throw new RobustlabError(
      `unknown preset '${v.preset}' (expected one of: ${Object.keys(PRESETS).join(', ')})`,
    );
  const preset =
    v.optimizer === undefined
      ? chosen
      : {
          ...chosen,
          attackOptimizer: choiceOpt(
            'optimizer',
            v.optimizer,
            ['ngd', 'sgd', 'adam'] as const,
            'ngd',
          ),
        };
  await initBackend({ backend: v.backend });
  const r = await reproduce({
    datasets,
    preset,
    out: v.out ?? `runs/${preset.name}`,
    seeds: parseSeeds(v.seeds, v.seed),
    workers: v.workers ? intOpt('workers', v.workers, 1, 1) : undefined,
    backend: v.backend,
    dataDir: v['data-dir'],
    force: v.force as string[] | undefined,
    log: v.quiet || v.json ? undefined : (l) => process.stderr.write(l + '\n'),
    live: !!process.stderr.isTTY,
  });
  output(v.json, { command: 'reproduce', ...r }, () =>
    [
      `reproduction done in ${r.seconds.toFixed(0)} s (${r.computed.length} stages computed, ${r.cached.length} reused)`,
      ...r.claims.map((c) => `  [${c.verdict}] ${c.dataset}: ${c.claim} — ${c.evidence}`),
      `report: ${r.report}`,
    ].join('\n'),
  );
}
