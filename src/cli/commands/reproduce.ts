import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { isNativeMatmulInstalled } from '../../backend/native-matmul.js';
import { DATASET_NAMES, type DatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { redactUrl } from '../../util/redact-url.js';
import { PRESETS } from '../../experiments/presets.js';
import { maskedUrl, reproduce } from '../../experiments/reproduce.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  lookup,
  MAX_SEED,
  output,
  parseOptions,
  path,
  str,
  strs,
} from '../args.js';
import { checkOutDir, readJsonOrNull } from '../outputs.js';

/** --queue URL and --attempts N: Redis URLs only, checked before anything runs. */
export const QUEUE_OPTIONS = {
  queue: str({
    metavar: 'URL',
    help: 'run the stages as jobs on a BullMQ queue: redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT',
  }),
  attempts: int({ min: 1, max: 100, help: 'with --queue: tries per stage (default 2)' }),
} as const;

export function queueOption(url: string | undefined, attempts: number | undefined) {
  if (url === undefined) {
    if (attempts !== undefined) throw new RobustlabError('--attempts needs --queue');
    return undefined;
  }
  if (!/^rediss?:\/\/[^/]/.test(url))
    throw new RobustlabError(
      `--queue must be a Redis URL, redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT (got '${redactUrl(url)}')`,
    );
  return { url, attempts: attempts ?? 2 };
}

/** More workers than cores only adds backends competing for the same cores. */
export const MAX_WORKERS = Math.max(1, availableParallelism());

export const OPTIONS = {
  dataset: choice([...DATASET_NAMES, 'all'] as const, { default: 'all' }),
  preset: choice(Object.keys(PRESETS), { default: 'quick' }),
  out: path({ help: 'default runs/<preset>' }),
  workers: int({ min: 1, max: MAX_WORKERS, help: 'parallel stages (default: number of cores)' }),
  seed: int({ min: 0, max: MAX_SEED, help: 'one seed (same as --seeds S)' }),
  seeds: str({ metavar: 'LIST', help: "seeds, e.g. 0,1,2 (default: the preset's)" }),
  optimizer: choice(['ngd', 'sgd', 'adam'] as const, { help: "the attack's optimiser" }),
  force: strs({ help: 'recompute a stage (name, prefix or kind); repeatable' }),
  stages: strs({ help: 'run only this stage (name, prefix or kind) and its inputs; repeatable' }),
  ...QUEUE_OPTIONS,
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
                  settings: full splits, 50/150 epochs, 500 projection steps, 180 examples) | smoke | tiny
  --out DIR       default runs/<preset>; a new or empty directory, or an earlier run
  --workers N     parallel stages in worker threads, 1..${MAX_WORKERS} (default: number of cores)
  --seeds LIST    seeds of every seed-dependent stage, e.g. 0,1,2 (default: the preset's;
                  paper 0,1,2, quick 0); tables and figures show the mean and 95% intervals
  --seed S        one seed, 0..4294967295 (same as --seeds S)
  --optimizer O   the attack's optimiser: ngd (default) | sgd | adam (new attack, transfer and
                  SVD stages; classifiers and codes are reused)
  --force STAGE   recompute a stage (name, prefix such as classifier/mnist, or kind); repeatable
  --stages S      run only stage S (name, prefix or kind) and its inputs, no report; repeatable
  --queue URL     run the stages as jobs on a BullMQ queue on Redis (redis://HOST:PORT,
                  rediss://:PASSWORD@HOST:PORT) for \`robustlab worker\`s on any machines; --out
                  must then be a directory every worker reaches (docs/distributed.md)
  --attempts N    with --queue: tries per stage before the run fails, 1..100 (default 2)
  env: ROBUSTLAB_REDIS_CA=FILE trusts a private CA for rediss://; ROBUSTLAB_REDIS_PASSWORD
       is the password when the URL has none
common: --json --quiet --backend --data-dir --help`;

/** --seeds 0,1,2 (distinct integers) or --seed S; undefined = the preset's seeds. */
export function parseSeeds(
  list: string | undefined,
  one: number | undefined,
): number[] | undefined {
  if (list !== undefined && one !== undefined)
    throw new RobustlabError('give --seeds or --seed, not both');
  if (one !== undefined) return [one];
  if (list === undefined) return undefined;
  const seeds = list.split(',').map((x) => x.trim());
  if (!seeds.length || seeds.some((x) => !/^\d+$/.test(x) || Number(x) > MAX_SEED))
    throw new RobustlabError(
      `--seeds must be a comma-separated list of integers in 0..${MAX_SEED} (got '${list}')`,
    );
  const n = seeds.map(Number);
  if (new Set(n).size !== n.length)
    throw new RobustlabError(`--seeds has a repeated seed ('${list}')`);
  return n;
}

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, OPTIONS, { command: 'reproduce' });
  if (helpRequested(v, HELP)) return;
  const datasets: DatasetName[] = v.dataset === 'all' ? [...DATASET_NAMES] : [v.dataset];
  const chosen = lookup(PRESETS, v.preset, 'preset');
  const preset = v.optimizer ? { ...chosen, attackOptimizer: v.optimizer } : chosen;
  const seeds = parseSeeds(v.seeds, v.seed);
  const out = v.out ?? `runs/${preset.name}`;
  const queue = queueOption(v.queue, v.attempts);
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
        `${queue ? `queue ${maskedUrl(queue.url)}` : `${workers} worker${workers === 1 ? '' : 's'}`}, ` +
        `seeds ${(seeds ?? preset.seeds).join(',')}, compute ${backend}` +
        `${isNativeMatmulInstalled(backend) ? ' + native OpenBLAS' : ''}`,
    );
  const onInterrupt = () => {
    process.stderr.write(
      `\nrobustlab: interrupted; finished stages are kept in ${out}. Resume with the same command: robustlab reproduce ${redactUrl(argv.join(' '))}\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const r = await reproduce({
      datasets,
      preset,
      out,
      seeds,
      workers,
      backend: v.backend,
      dataDir: v['data-dir'],
      force: v.force.length ? v.force : undefined,
      log: say,
      live: !!process.stderr.isTTY && !v.quiet,
      queue,
      only: v.stages.length ? v.stages : undefined,
      onStart: banner,
    });
    output(v.json, { command: 'reproduce', ...r }, () =>
      [
        `${r.report ? 'reproduction' : 'stages'} done in ${r.seconds.toFixed(0)} s (${r.computed.length} stages computed, ${r.cached.length} reused)`,
        ...r.claims.map((c) => `  [${c.verdict}] ${c.dataset}: ${c.claim} — ${c.evidence}`),
        r.report ? `report: ${r.report}` : '(--stages: a part of the graph, no report)',
      ].join('\n'),
    );
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}
