/**
 * The lab's attack picker: a registry. An attack plugs in with one line in ATTACKS, naming the
 * library function, its numeric options (with defaults and slider ranges) and whether it is
 * targeted. Every attack runs in pixel space on image → class classifiers, in the box [0, 1].
 */
import {
  PIXEL_RANGE,
  TARGETED_CE_L2_DEFAULTS,
  targetedCeL2,
  type AttackResult,
  type Classifier,
} from '../../src/index.js';

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
        ...values,
        ...PIXEL_RANGE,
        silent: true,
        ...(targeted === 'optional' ? { targeted: isTargeted } : {}),
      }),
  };
}

const T = TARGETED_CE_L2_DEFAULTS;

export const ATTACKS: LabAttack[] = [
  attack('targeted-ce-l2', "study's targeted CE + L2 (NGD)", targetedCeL2, 'required', {
    maxSteps: [T.maxSteps, 10, 2000, 10, 'max steps'],
    stepSize: [T.stepSize.ngd, 0.005, 0.5, 0.005, 'step (L2)'],
    lambda: [T.lambda, 0, 0.2, 0.005, 'λ (L2 penalty)'],
    confidence: [T.confidence, 0.5, 0.999, 0.005, 'confidence'],
  }),
  // Standard attacks plug in here, one line each, when their branches land, e.g.:
  // attack('pgd', 'PGD (L∞)', pgd, 'optional', { eps: [0.1, 0, 0.5, 0.005], steps: [100, 1, 1000, 1] }),
];

export function attackById(id: string): LabAttack {
  const a = ATTACKS.find((x) => x.id === id);
  if (!a) throw new Error(`unknown attack '${id}'`);
  return a;
}
