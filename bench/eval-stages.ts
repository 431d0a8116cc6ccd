/**
 * The evaluation stages of the benchmark (issue 17 item 3, issue 13): PGD, APGD-CE, Square and
 * the `autoattack` standard cascade on N MNIST test points of an LRL image model at L∞ ε,
 * each against bench/pytorch_eval_bench.py doing the same work (bench/torch_eval.py). The stage
 * list is declared here once and handed to the PyTorch side as JSON.
 *
 * The model: an LRL trained here once (native trainer, seed 0) and saved under bench/results,
 * so that PyTorch loads the very same weights; reused while it exists.
 */
import { existsSync } from 'node:fs';
import { apgd } from '../src/attacks/apgd.js';
import { square } from '../src/attacks/square.js';
import { autoAttack } from '../src/evaluation/autoattack.js';
import { AUTOATTACK_LIBRARY } from '../src/evaluation/registry.js';
import type { AttackResult } from '../src/attacks/base.js';
import { pgd } from '../src/attacks/pgd.js';
import type { Dataset } from '../src/data/datasets.js';
import { runTrainClassifier } from '../src/experiments/classifier-job.js';
import { MlpClassifier, parseArch } from '../src/models/classifier.js';
import { loadModel } from '../src/models/io.js';
import type { Workload } from './stages.js';

export interface EvalStage {
  name: string;
  attack: 'pgd' | 'apgd-ce' | 'square' | 'autoattack';
  eps: number;
  steps?: number;
  stepSize?: number;
  restarts?: number;
  queries?: number;
  seed: number;
}

export const EVAL_MODEL_DIR = 'bench/results/eval-model-mnist-LRL';
export const EVAL_MODEL_EPOCHS = 10;

/** Train (once) and load the benchmark's LRL image model. */
export async function evalModel(dataDir: string, dir = EVAL_MODEL_DIR): Promise<MlpClassifier> {
  if (!existsSync(`${dir}/robustlab.json`)) {
    await runTrainClassifier({
      dataset: 'mnist',
      space: 'image',
      arch: 'LRL',
      epochs: EVAL_MODEL_EPOCHS,
      seed: 0,
      out: dir,
      silent: true,
      dataDir,
    });
  }
  const { meta, parts } = loadModel(dir);
  return new MlpClassifier(parseArch(meta.arch ?? 'LRL'), parts.model);
}

export function evalStages(n: number, epsList: number[]): EvalStage[] {
  const out: EvalStage[] = [];
  for (const eps of epsList) {
    const at = `L∞ ε=${eps}, ${n} pts`;
    out.push(
      {
        name: `PGD ${at}, 100 steps`,
        attack: 'pgd',
        eps,
        steps: 100,
        stepSize: (2.5 * eps) / 100,
        restarts: 1,
        seed: 0,
      },
      {
        name: `APGD-CE ${at}, 100 iters`,
        attack: 'apgd-ce',
        eps,
        steps: 100,
        restarts: 1,
        seed: 0,
      },
      { name: `Square ${at}, 5000 queries`, attack: 'square', eps, queries: 5000, seed: 0 },
      { name: `autoattack standard ${at}`, attack: 'autoattack', eps, seed: 0 },
    );
  }
  return out;
}

/** The stages as timed workloads; each run writes its robust accuracy into `robust`. */
export function evalWorkloads(
  clf: MlpClassifier,
  ds: Dataset,
  n: number,
  stages: EvalStage[],
  robust: Record<string, number>,
): Workload[] {
  const x = ds.test.images.subarray(0, n * 784);
  const y = ds.test.labels.subarray(0, n);
  return stages.map((st) => ({
    name: st.name,
    run: () => {
      const o = { eps: st.eps, norm: 'linf' as const, seed: st.seed, silent: true };
      let r: AttackResult;
      if (st.attack === 'pgd')
        r = pgd(clf, x, n, y, {
          ...o,
          steps: st.steps,
          stepSize: st.stepSize,
          restarts: st.restarts,
        });
      else if (st.attack === 'apgd-ce')
        r = apgd(clf, x, n, y, { ...o, steps: st.steps, restarts: st.restarts });
      else if (st.attack === 'square') r = square(clf, x, n, y, { ...o, steps: st.queries });
      else {
        robust[st.name] = autoAttack(clf, x, y, n, AUTOATTACK_LIBRARY, o).robustAccuracy;
        return 0;
      }
      // robust = the returned point keeps the true label (failures and clean errors alike)
      robust[st.name] = r.finalLabel.reduce((s, l, i) => s + (l === y[i] ? 1 : 0), 0) / n;
      return 0;
    },
  }));
}
