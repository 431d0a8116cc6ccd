/**
 * AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks"), with the settings of the authors' reference
 * implementation (fra31/auto-attack, `AutoAttack.set_version`):
 *
 *   standard  APGD-CE (100 iterations, 1 restart, ρ = 0.75)
 *             → APGD-T (DLR-targeted, 100 iterations, the 9 most likely other classes, 1 restart each)
 *             → FAB-T (100 iterations, 9 target classes, 1 restart)
 *             → Square (5000 queries, p_init = 0.8, 1 restart)
 *   rand      APGD-CE → APGD-DLR, each 100 iterations, 1 restart, EOT over 20 draws
 *             (for randomised defences)
 *
 * Each stage runs only on the points still robust after the previous ones and the worst case
 * per example is kept (`evaluateRobustness` with `minNormOnAll: false`: FAB-T here is a stage of
 * the cascade judged at ε, as in AutoAttack, not a distance estimator). The same settings for
 * L∞ and L2, as in the reference.
 */
import type { Norm } from '../attacks/norms.js';
import type { Classifier } from '../models/classifier.js';
import {
  evaluateRobustness,
  type AttackFn,
  type AttackSpec,
  type EvaluateOptions,
  type RobustEvaluation,
} from './robust-accuracy.js';

export const AUTOATTACK_VERSIONS = ['standard', 'rand'] as const;
export type AutoAttackVersion = (typeof AUTOATTACK_VERSIONS)[number];

/** The attack functions the cascade is built from (src/evaluation/registry.ts binds the real ones). */
export interface AutoAttackLibrary {
  apgd: AttackFn;
  apgdT: AttackFn;
  fab: AttackFn;
  square: AttackFn;
}

/** fra31/auto-attack's standard and rand settings. */
export const AUTOATTACK_SETTINGS = {
  apgdCe: { steps: 100, restarts: 1, loss: 'ce', rho: 0.75, eotIter: 1 },
  apgdT: { steps: 100, restarts: 1, nTargetClasses: 9, rho: 0.75, eotIter: 1 },
  fabT: { steps: 100, restarts: 1, targeted: true, nTargetClasses: 9 },
  square: { steps: 5000, pInit: 0.8, restarts: 1 },
  randApgdCe: { steps: 100, restarts: 1, loss: 'ce', rho: 0.75, eotIter: 20 },
  randApgdDlr: { steps: 100, restarts: 1, loss: 'dlr', rho: 0.75, eotIter: 20 },
} as const;

export interface AutoAttackOptions {
  version?: AutoAttackVersion;
  /**
   * Scale every stage's iteration budget (steps, queries) by this factor, e.g. 2 for the
   * "doubling the iterations" check; 1 = the reference settings.
   */
  budgetScale?: number;
  /** Multiply restarts (the "doubling the restarts" check). */
  restartScale?: number;
  /** Classifier the gradient stages attack (EOT wrapper, surrogate); default the model. */
  target?: Classifier;
}

function scaled<T extends Record<string, unknown>>(s: T, budget: number, restarts: number): T {
  const out: Record<string, unknown> = { ...s };
  for (const k of ['steps', 'queries']) {
    if (typeof out[k] === 'number') out[k] = Math.max(1, Math.round((out[k] as number) * budget));
  }
  if (typeof out.restarts === 'number')
    out.restarts = Math.max(1, Math.round((out.restarts as number) * restarts));
  return out as T;
}

/** The cascade's stages as attack specs, in order. */
export function autoAttackSpecs(lib: AutoAttackLibrary, o: AutoAttackOptions = {}): AttackSpec[] {
  const b = o.budgetScale ?? 1;
  const r = o.restartScale ?? 1;
  const S = AUTOATTACK_SETTINGS;
  const t = o.target;
  if ((o.version ?? 'standard') === 'rand') {
    return [
      {
        name: 'apgd-ce',
        fn: lib.apgd,
        kind: 'bounded',
        options: scaled(S.randApgdCe, b, r),
        target: t,
      },
      {
        name: 'apgd-dlr',
        fn: lib.apgd,
        kind: 'bounded',
        options: scaled(S.randApgdDlr, b, r),
        target: t,
      },
    ];
  }
  return [
    { name: 'apgd-ce', fn: lib.apgd, kind: 'bounded', options: scaled(S.apgdCe, b, r), target: t },
    { name: 'apgd-t', fn: lib.apgdT, kind: 'bounded', options: scaled(S.apgdT, b, r), target: t },
    // FAB-T is a minimum-norm attack, but in the cascade it is judged at ε like the others.
    { name: 'fab-t', fn: lib.fab, kind: 'min-norm', options: scaled(S.fabT, b, r), target: t },
    {
      name: 'square',
      fn: lib.square,
      kind: 'bounded',
      blackBox: true,
      options: scaled(S.square, b, r),
      target: t,
    },
  ];
}

/** Run the AutoAttack cascade on the first n points: robust accuracy and a record per stage. */
export function autoAttack(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  lib: AutoAttackLibrary,
  o: AutoAttackOptions & Omit<EvaluateOptions, 'attacks'> & { norm: Norm; eps: number },
): RobustEvaluation {
  return evaluateRobustness(clf, x, labels, n, {
    ...o,
    attacks: autoAttackSpecs(lib, o),
    minNormOnAll: false,
    label: o.label ?? `autoattack-${o.version ?? 'standard'}`,
  });
}
