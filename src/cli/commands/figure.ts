import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { DATASET_NAMES } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { stageDone } from '../../experiments/stages.js';
import { checkOutDir } from '../outputs.js';
import { readRunGraph } from '../../experiments/run-graph.js';
import { FIGURE_KINDS, writeStudyReport } from '../../report/study-report.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  output,
  parseOptions,
  path,
  required,
} from '../args.js';

export const OPTIONS = {
  dataset: choice(DATASET_NAMES, { help: 'required' }),
  run: path({ help: 'a reproduce output directory' }),
  out: path({ help: 'default <run>/figures' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

const HELP = `usage: robustlab figure accuracy|robustness|transfer|examples|svd --dataset D [--run DIR] [--out DIR]

Draws one of the study's figures (SVG + PNG) and its table (markdown; JSON with --json) from
the stages of a 'robustlab reproduce' run:
  accuracy    Figure 4: test accuracy of every architecture in every space
  robustness  Figure 5: mean ‖x_adv − x‖₂/‖x‖₂ per classifier, own-space and pixel-space
  transfer    Figure 6: adversarial accuracy of latent classifiers on image-space adversaries
  examples    Figure 1: original / perturbation / adversarial gallery (2L image classifier)
  svd         Figure 7: the SVD sweep on the 2L image classifier (zero and scale)
options:
  --dataset D   mnist | fashion-mnist                        (required)
  --run DIR     a reproduce output directory (default runs/quick, or runs/paper if present)
  --out DIR     where to write (default <run>/figures)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(HELP + '\n');
    return;
  }
  if (!Object.hasOwn(FIGURE_KINDS, kind))
    throw new RobustlabError(
      `unknown figure '${kind}' (expected one of: ${Object.keys(FIGURE_KINDS).join(', ')})`,
    );
  const { values: v } = parseOptions(rest, OPTIONS, { command: `figure ${kind}` });
  if (helpRequested(v, HELP)) return;
  const dataset = required('dataset', v.dataset);
  const runDir = resolve(
    v.run ?? (existsSync('runs/paper/graph.json') ? 'runs/paper' : 'runs/quick'),
  );
  const all = readRunGraph(runDir);
  const stages = all.filter((s) => s.name.split('/')[1] === dataset && stageDone(s));
  if (!stages.length) throw new RobustlabError(`${runDir} has no finished stages for ${dataset}`);
  await initBackend({ backend: v.backend });
  const out = resolve(
    v.out === undefined
      ? join(runDir, 'figures')
      : checkOutDir(v.out, {
          what: 'figure output',
          isOurs: (_, entries) => ({
            ours: entries.every((e) => e === 'figures' || /\.(svg|png|md)$/.test(e)),
          }),
        }),
  );
  const r = await writeStudyReport(out, stages, {}, v['data-dir'], {
    dataset,
    kind: kind as keyof typeof FIGURE_KINDS,
  });
  output(
    v.json,
    { command: `figure ${kind}`, dataset, figures: r.figures, data: r.results.datasets[dataset] },
    () => `${r.markdown}\nfigures: ${r.figures.join(', ')}`,
  );
}
