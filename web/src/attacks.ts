/**
 * The lab's attack picker: a registry. An attack plugs in with one line in ATTACKS, naming the
 * library function, its numeric options (with defaults and slider ranges) and whether it is
 * targeted. Every attack runs in pixel space on image → class classifiers, in the box [0, 1].
 */
import {
  PIXEL_RANGE,
  TARGETED_CE_L2_DEFAULTS,
  predict,
  targetedCeL2,
  type AttackResult,
  type Classifier,
} from '../../src/index.js';
import { apgd, apgdT } from '../../src/attacks/apgd.js';
import { cwL2 } from '../../src/attacks/cw-l2.js';
import { deepFool } from '../../src/attacks/deepfool.js';
import { fab } from '../../src/attacks/fab.js';
import { fgsm } from '../../src/attacks/fgsm.js';
import { pgd } from '../../src/attacks/pgd.js';
import { square } from '../../src/attacks/square.js';
import { autoAttack } from '../../src/evaluation/autoattack.js';
import { AUTOATTACK_LIBRARY } from '../../src/evaluation/registry.js';

export interface ParamSpec {
  key: string;
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
}

export interface LabAttack {
  id: string;
  name: string;
  /** 'required': needs a goal class; 'none': untargeted only; 'optional': either. */
  targeted: 'required' | 'none' | 'optional';
  params: ParamSpec[];
  run(
    clf: Classifier,
    x0: Float32Array,
    n: number,
    labels: Int32Array,
    targeted: boolean,
    values: Record<string, number>,
  ): AttackResult;
}

type AttackFn = (
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  opts: any,
) => AttackResult;

/**
 * One registry entry from a library attack `fn(clf, x0, n, labels, opts)`: the options are the
 * slider values plus the box, `silent`, and `targeted` when the attack can be either.
 */
export function attack(
  id: string,
  name: string,
  fn: AttackFn,
  targeted: LabAttack['targeted'],
  params: Record<string, [value: number, min: number, max: number, step: number, label?: string]>,
  /** Fixed (non-numeric) options, e.g. the norm. */
  fixed: Record<string, unknown> = {},
): LabAttack {
  return {
    id,
    name,
    targeted,
    params: Object.entries(params).map(([key, [value, min, max, step, label]]) => ({
      key,
      label: label ?? key,
      value,
      min,
      max,
      step,
    })),
    run: (clf, x0, n, labels, isTargeted, values) =>
      fn(clf, x0, n, labels, {
        ...fixed,
        ...values,
        ...PIXEL_RANGE,
        silent: true,
        ...(targeted === 'optional' ? { targeted: isTargeted } : {}),
      }),
  };
}

const T = TARGETED_CE_L2_DEFAULTS;
const LINF = { norm: 'linf' };
const L2 = { norm: 'l2' };
const LINF_EPS: [number, number, number, number, string] = [0.1, 0, 1, 0.01, 'ε (L∞)'];
const L2_EPS: [number, number, number, number, string] = [2, 0, 20, 0.1, 'ε (L2)'];

/** The AutoAttack cascade as one attack: its worst example within ε per point. */
function autoAttackResult(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: { eps: number; norm: 'linf' | 'l2' },
): AttackResult {
  const ev = autoAttack(clf, x0, labels, n, AUTOATTACK_LIBRARY, {
    norm: o.norm,
    eps: o.eps,
    silent: true,
  });
  const p = predict(clf, ev.xAdv, n).probs;
  return {
    xAdv: ev.xAdv,
    success: Uint8Array.from(ev.advLabel, (l, i) => (l !== labels[i] ? 1 : 0)),
    steps: new Int32Array(n), // a cascade of attacks: no single step count
    goalProb: Float32Array.from(labels, (l, i) => p[i * clf.numClasses + l]),
    finalLabel: ev.advLabel,
    n,
    dim: clf.inputDim,
    forwards: ev.forwards,
    backwards: ev.backwards,
  };
}

export const ATTACKS: LabAttack[] = [
  attack('targeted-ce-l2', "study's targeted CE + L2 (NGD)", targetedCeL2, 'required', {
    maxSteps: [T.maxSteps, 10, 2000, 10, 'max steps'],
    stepSize: [T.stepSize.ngd, 0.005, 0.5, 0.005, 'step (L2)'],
    lambda: [T.lambda, 0, 0.2, 0.005, 'λ (L2 penalty)'],
    confidence: [T.confidence, 0.5, 0.999, 0.005, 'confidence'],
  }),
  attack(
    'pgd-linf',
    'PGD L∞ (untargeted)',
    pgd,
    'none',
    { eps: LINF_EPS, steps: [100, 1, 1000, 1], restarts: [1, 1, 10, 1] },
    LINF,
  ),
  attack(
    'pgd-l2',
    'PGD L2 (untargeted)',
    pgd,
    'none',
    { eps: L2_EPS, steps: [100, 1, 1000, 1], restarts: [1, 1, 10, 1] },
    L2,
  ),
  attack('fgsm', 'FGSM L∞', fgsm, 'none', { eps: LINF_EPS }, LINF),
  attack(
    'cw-l2',
    'Carlini–Wagner L2',
    cwL2,
    'none',
    { steps: [1000, 10, 5000, 10], binarySearchSteps: [9, 1, 20, 1], kappa: [0, 0, 50, 1] },
    L2,
  ),
  attack(
    'deepfool-l2',
    'DeepFool L2',
    deepFool,
    'none',
    { steps: [50, 1, 500, 1], overshoot: [0.02, 0, 1, 0.01] },
    L2,
  ),
  attack(
    'apgd-ce',
    'APGD-CE L∞',
    apgd,
    'none',
    { eps: LINF_EPS, steps: [100, 1, 1000, 1] },
    { ...LINF, loss: 'ce' },
  ),
  attack(
    'apgd-dlr',
    'APGD-DLR L∞',
    apgd,
    'none',
    { eps: LINF_EPS, steps: [100, 1, 1000, 1] },
    { ...LINF, loss: 'dlr' },
  ),
  attack(
    'apgd-t',
    'APGD-T L∞',
    apgdT,
    'none',
    { eps: LINF_EPS, steps: [100, 1, 1000, 1], nTargetClasses: [9, 1, 9, 1] },
    LINF,
  ),
  attack(
    'fab',
    'FAB L∞ (minimum norm)',
    fab,
    'none',
    { steps: [100, 1, 1000, 1] },
    { ...LINF, eps: Infinity, targeted: false },
  ),
  attack(
    'square',
    'Square L∞ (black box)',
    square,
    'none',
    { eps: LINF_EPS, steps: [1000, 10, 10000, 10, 'queries'] },
    LINF,
  ),
  attack(
    'autoattack',
    'AutoAttack L∞ (standard)',
    autoAttackResult,
    'none',
    { eps: LINF_EPS },
    LINF,
  ),
];

export function attackById(id: string): LabAttack {
  const a = ATTACKS.find((x) => x.id === id);
  if (!a) throw new Error(`unknown attack '${id}'`);
  return a;
}
