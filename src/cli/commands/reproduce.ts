import { initBackend } from '../../backend/backend.js';
import { DATASET_NAMES, parseDatasetName, type DatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { PRESETS } from '../../experiments/presets.js';
import { reproduce } from '../../experiments/reproduce.js';
import { intOpt, output, parse, helpRequested } from '../args.js';

/** --queue URL [--attempts N], checked before anything runs. */
export function queueOption(url: string | undefined, attempts: string | undefined) {
  if (url === undefined) {
    if (attempts !== undefined) throw new RobustlabError('--attempts needs --queue');
    return undefined;
  }
  if (!/^rediss?:\/\/[^/]/.test(url))
    throw new RobustlabError(
      `--queue: '${url}' is not a Redis URL (expected redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT)`,
    );
  return { url, attempts: intOpt('attempts', attempts, 2, 1) };
}

const HELP = `usage: robustlab reproduce [--dataset mnist|fashion-mnist|all] [--preset paper|quick] [--out DIR]

Runs the whole study as a graph of stages: image classifiers, AE/VAE, the 4 code datasets,
latent classifiers, attacks (own-space and pixel-space), transfer, SVD sweeps, then figures and
report (report.html, report.md, results.json, figures/*.svg|png in --out).
Every stage's output is stored under --out keyed by a hash of its settings and inputs; a finished
stage is never recomputed, so an interrupted run resumes where it stopped.

options:
  --dataset D     mnist | fashion-mnist | all (default all)
  --preset P      quick (default: small subsets, a few minutes on 2 cores) | paper (the study's
                  settings: full splits, 50/150 epochs, 500 projection steps, 180 examples) | smoke | tiny
  --out DIR       default runs/<preset>
  --workers N     parallel stages in worker threads (default: number of cores)
  --seed S        default 0
  --force STAGE   recompute a stage (name, prefix such as classifier/mnist, or kind); repeatable
  --queue URL     run the stages as jobs on a BullMQ queue on Redis (redis://HOST:PORT,
                  rediss://:PASSWORD@HOST:PORT) for \`robustlab worker\`s on any machines; --out
                  must then be a directory every worker reaches (docs/distributed.md)
  --stages S      run only stage S (name, prefix or kind) and its inputs, no report; repeatable
  --attempts N    with --queue: tries per stage before the run fails (default 2)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    dataset: { type: 'string' },
    preset: { type: 'string' },
    out: { type: 'string' },
    workers: { type: 'string' },
    seed: { type: 'string' },
    force: { type: 'string', multiple: true },
    queue: { type: 'string' },
    attempts: { type: 'string' },
    stages: { type: 'string', multiple: true },
  });
  if (helpRequested(v, HELP)) return;
  const datasets: DatasetName[] =
    !v.dataset || v.dataset === 'all' ? [...DATASET_NAMES] : [parseDatasetName(v.dataset)];
  const preset = PRESETS[v.preset ?? 'quick'];
  if (!preset)
    throw new RobustlabError(
      `unknown preset '${v.preset}' (expected one of: ${Object.keys(PRESETS).join(', ')})`,
    );
  await initBackend({ backend: v.backend });
  const r = await reproduce({
    datasets,
    preset,
    out: v.out ?? `runs/${preset.name}`,
    seed: intOpt('seed', v.seed, 0),
    workers: v.workers ? intOpt('workers', v.workers, 1, 1) : undefined,
    backend: v.backend,
    dataDir: v['data-dir'],
    force: v.force as string[] | undefined,
    log: v.quiet || v.json ? undefined : (l) => process.stderr.write(l + '\n'),
    live: !!process.stderr.isTTY,
    queue: queueOption(v.queue, v.attempts),
    only: v.stages as string[] | undefined,
  });
  output(v.json, { command: 'reproduce', ...r }, () =>
    [
      `${r.report ? 'reproduction' : 'stages'} done in ${r.seconds.toFixed(0)} s (${r.computed.length} stages computed, ${r.cached.length} reused)`,
      ...r.claims.map(
        (c) =>
          `  [${c.supported === null ? 'n/a' : c.supported ? 'yes' : 'no '}] ${c.dataset}: ${c.claim} — ${c.evidence}`,
      ),
      r.report ? `report: ${r.report}` : '(--stages: a part of the graph, no report)',
    ].join('\n'),
  );
}
