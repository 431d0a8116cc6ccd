import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { runAttackJob } from '../../experiments/attack-job.js';
import { runSvdJob } from '../../experiments/svd-job.js';
import { svdFigure } from '../../report/svd-figure.js';
import { writeFigure } from '../../report/render.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic.js';
import {
  BACKEND_OPTION,
  choice,
  DATA_OPTION,
  helpRequested,
  int,
  num,
  numbers,
  output,
  parseOptions,
  path,
  refuseInapplicable,
  required,
  SEED_OPTION,
} from '../args.js';
import { checkFilesOut, readJsonOrNull } from '../outputs.js';
import { RobustlabError } from '../../data/errors.js';
import { readModelMeta } from '../../models/io.js';

export const MAX_FRACTIONS = 1001;
const FRACTIONS = { min: 0, max: 1, maxLength: MAX_FRACTIONS, ranges: true } as const;

export const OPTIONS = {
  model: path({ help: 'an image-space classifier directory (required)' }),
  mode: choice(['zero', 'scale'] as const, { help: 'required' }),
  fractions: numbers({
    ...FRACTIONS,
    default: numbers(FRACTIONS).parse('0:0.05:0.95', '--fractions'),
  }),
  factor: num({ min: 0, max: 10, default: 0.1, help: '--mode scale only' }),
  'attack-dir': path({ help: "a 'robustlab attack --out' directory of the same model" }),
  reattack: int({
    min: 0,
    max: 1000,
    default: 5,
    help: 'inputs per re-attack (× 9 goals), 0 = off',
  }),
  ...SEED_OPTION,
  out: path({ help: 'default runs/svd/<model directory name>' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

export const HELP = `usage: robustlab svd --model DIR --mode zero|scale [--fractions 0:0.05:0.95] [options]

The spectral defence sweep (the study's Figure 7) on an image-space classifier: for each
fraction, zero (or scale by --factor) the bottom singular values of every weight matrix, and
report train / test accuracy, adversarial accuracy on the original model's adversarial examples,
and the robustness of the modified model under a fresh white-box attack.

options:
  --model DIR         an image-space classifier directory                  (required)
  --mode zero|scale   (required)
  --fractions F       start:step:end or a comma list of numbers in [0, 1], at most ${MAX_FRACTIONS}
                      values (default 0:0.05:0.95)
  --factor X          --mode scale only: scale factor in [0, 10] (default 0.1)
  --attack-dir DIR    reuse a 'robustlab attack --out' directory for the original adversaries
                      (default: attack the model now, 20 inputs × 9 goals)
  --reattack N        inputs per re-attack, 0..1000 (× 9 goals; default 5, 0 = off)
  --seed S            0..4294967295 (default 0)
  --out DIR           write svd-<mode>.json/.md/.svg/.png here (default runs/svd/<model directory
                      name>; a new or empty directory, or a previous svd output)
common: --json --quiet --backend --data-dir --help`;

function isSvdFile(p: string): boolean {
  const j = readJsonOrNull(p.replace(/\.\w+$/, '.json')) as { points?: unknown } | null;
  return !!j && Array.isArray(j.points);
}

export async function run(argv: string[]): Promise<void> {
  const { values: v, given } = parseOptions(argv, OPTIONS, { command: 'svd' });
  if (helpRequested(v, HELP)) return;
  const modelDir = required('model', v.model);
  const mode = required('mode', v.mode);
  if (mode === 'zero') refuseInapplicable(given, ['factor'], 'with --mode zero (scale only)');
  const { fractions, factor, seed } = v;
  const out = v.out ?? join('runs', 'svd', basename(resolve(modelDir)));
  const files = ['json', 'md', 'svg', 'png'].map((e) => `svd-${mode}.${e}`);
  checkFilesOut(out, files, 'svd output', isSvdFile);
  const meta = readModelMeta(modelDir);
  if (meta.kind !== 'classifier' || meta.space !== 'image')
    throw new RobustlabError(
      `the spectral sweep takes an image-space classifier (${modelDir} is a ${meta.space === 'image' ? meta.kind : meta.space} ${meta.kind === 'classifier' ? 'classifier' : 'model'})`,
    );
  await initBackend({ backend: v.backend });
  let attackDir = v['attack-dir'];
  let tmp: string | undefined;
  if (!attackDir) {
    tmp = attackDir = mkdtempSync(join(tmpdir(), 'robustlab-svd-'));
  }
  try {
    if (tmp)
      await runAttackJob({
        modelDir,
        mode: 'own-space',
        seed,
        dataDir: v['data-dir'],
        out: tmp,
        silent: v.quiet,
      });
    const r = await runSvdJob({
      modelDir,
      attackDir,
      mode,
      fractions,
      factor,
      reattackCount: v.reattack,
      seed,
      dataDir: v['data-dir'],
      silent: v.quiet,
    });
    const { svg, md } = svdFigure(
      `${r.dataset} ${r.arch}: bottom singular values ${mode === 'zero' ? 'zeroed' : `scaled by ${factor}`}`,
      r.points,
      r,
    );
    const base = join(out, `svd-${mode}`);
    writeJsonAtomic(`${base}.json`, r);
    writeFileAtomic(`${base}.md`, md + '\n');
    const fig = await writeFigure(base, svg);
    output(
      v.json,
      { command: 'svd', ...r, out, files: { json: `${base}.json`, md: `${base}.md`, ...fig } },
      () =>
        `${md}\nSVD of all layers once: ${r.svdSeconds.toFixed(2)} s; sweep ${r.seconds.toFixed(1)} s\n` +
        `written: ${base}.json, .md, .svg, .png`,
    );
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
