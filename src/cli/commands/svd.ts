import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../backend/backend.js';
import { runAttackJob } from '../../experiments/attack-job.js';
import { parseFractions, runSvdJob } from '../../experiments/svd-job.js';
import { svdFigure } from '../../report/svd-figure.js';
import { writeFigure } from '../../report/render.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { choiceOpt, intOpt, numOpt, output, parse, requireOpt, helpRequested } from '../args.js';

const HELP = `usage: robustlab svd --model DIR --mode zero|scale [--fractions 0:0.05:0.95] [options]

The spectral defence sweep (the study's Figure 7) on an image-space classifier: for each
fraction, zero (or scale by --factor) the bottom singular values of every weight matrix, and
report train / test accuracy, adversarial accuracy on the original model's adversarial examples,
and the robustness of the modified model under a fresh white-box attack.

options:
  --model DIR         an image-space classifier directory                  (required)
  --mode zero|scale   (required)
  --fractions F       start:step:end or a comma list (default 0:0.05:0.95)
  --factor X          scale factor (default 0.1)
  --attack-dir DIR    reuse a 'robustlab attack --out' directory for the original adversaries
                      (default: attack the model now, 20 inputs × 9 goals)
  --reattack N        inputs per re-attack (× 9 goals; default 5, 0 = off)
  --seed S            default 0
  --out DIR           write svd-<mode>.json/.md/.svg/.png here (default <model>/svd)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    model: { type: 'string' },
    mode: { type: 'string' },
    fractions: { type: 'string' },
    factor: { type: 'string' },
    'attack-dir': { type: 'string' },
    reattack: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
  });
  if (helpRequested(v, HELP)) return;
  const modelDir = requireOpt('model', v.model);
  const mode = choiceOpt('mode', requireOpt('mode', v.mode), ['zero', 'scale'] as const, 'zero');
  const fractions = parseFractions(v.fractions ?? '0:0.05:0.95');
  const factor = numOpt('factor', v.factor, 0.1, 0);
  const seed = intOpt('seed', v.seed, 0);
  await initBackend({ backend: v.backend });
  let attackDir = v['attack-dir'];
  let tmp: string | undefined;
  if (!attackDir) {
    tmp = attackDir = mkdtempSync(join(tmpdir(), 'robustlab-svd-'));
    await runAttackJob({
      modelDir,
      mode: 'own-space',
      seed,
      dataDir: v['data-dir'],
      out: attackDir,
      silent: v.quiet || v.json,
    });
  }
  try {
    const r = await runSvdJob({
      modelDir,
      attackDir,
      mode,
      fractions,
      factor,
      reattackCount: intOpt('reattack', v.reattack, 5),
      seed,
      dataDir: v['data-dir'],
      silent: v.quiet || v.json,
    });
    const out = v.out ?? join(modelDir, 'svd');
    const { svg, md } = svdFigure(
      `${r.dataset} ${r.arch}: bottom singular values ${mode === 'zero' ? 'zeroed' : `scaled by ${factor}`}`,
      r.points,
      r,
    );
    writeJsonAtomic(join(out, `svd-${mode}.json`), r);
    const fig = await writeFigure(join(out, `svd-${mode}`), svg);
    output(
      v.json,
      { command: 'svd', ...r, figure: fig },
      () =>
        `${md}\nSVD of all layers once: ${r.svdSeconds.toFixed(2)} s; sweep ${r.seconds.toFixed(1)} s\nfigure: ${fig.png}`,
    );
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
