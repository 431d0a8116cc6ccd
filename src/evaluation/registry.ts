/**
 * The attacks an evaluation can name (`--attacks pgd,cw,...`), with the settings they run with
 * in an evaluation, and the AutoAttack library bound to the real attack functions.
 *
 * Settings: each attack's own defaults (its file's header), except where an evaluation
 * wants more than the attack's default: PGD runs 100 steps (Madry et al. evaluate with 100,
 * train with 40). `budgetScale` / `restartScale` multiply iterations (or queries) and restarts,
 * for the "doubling" reliability check.
 */
import { apgd, apgdT } from '../attacks/apgd.js';
import { cwL2 } from '../attacks/cw-l2.js';
import { deepFool } from '../attacks/deepfool.js';
import { fab } from '../attacks/fab.js';
import { fgsm } from '../attacks/fgsm.js';
import type { Norm } from '../attacks/norms.js';
import { pgd } from '../attacks/pgd.js';
import { square } from '../attacks/square.js';
import { RobustlabError } from '../data/errors.js';
import type { Classifier } from '../models/classifier.js';
import {
  AUTOATTACK_SETTINGS,
  autoAttackSpecs,
  type AutoAttackLibrary,
  type AutoAttackVersion,
} from './autoattack.js';
import type { AttackCall } from './checks.js';
import type { AttackFn, AttackKind, AttackSpec } from './robust-accuracy.js';

interface Entry {
  fn: AttackFn;
  kind: AttackKind;
  options: Record<string, unknown>;
  blackBox?: boolean;
  /** Norms the attack supports (default both). */
  norms?: Norm[];
}

const ENTRIES: Record<string, Entry> = {
  fgsm: { fn: fgsm, kind: 'bounded', options: {} },
  pgd: { fn: pgd, kind: 'bounded', options: { steps: 100, restarts: 1 } },
  'apgd-ce': { fn: apgd, kind: 'bounded', options: { ...AUTOATTACK_SETTINGS.apgdCe } },
  'apgd-dlr': {
    fn: apgd,
    kind: 'bounded',
    options: { ...AUTOATTACK_SETTINGS.apgdCe, loss: 'dlr' },
  },
  'apgd-t': { fn: apgdT, kind: 'bounded', options: { ...AUTOATTACK_SETTINGS.apgdT } },
  // Minimum-norm attacks in a list run unbounded (FAB: eps = ∞) so that they give distances.
  fab: {
    fn: fab,
    kind: 'min-norm',
    options: { ...AUTOATTACK_SETTINGS.fabT, targeted: false, eps: Infinity },
  },
  'fab-t': { fn: fab, kind: 'min-norm', options: { ...AUTOATTACK_SETTINGS.fabT, eps: Infinity } },
  cw: { fn: cwL2, kind: 'min-norm', options: {}, norms: ['l2'] },
  deepfool: { fn: deepFool, kind: 'min-norm', options: {} },
  square: {
    fn: square,
    kind: 'bounded',
    blackBox: true,
    options: { ...AUTOATTACK_SETTINGS.square },
  },
};

export const ATTACK_NAMES = Object.keys(ENTRIES);
export const ENSEMBLES = ['autoattack', 'autoattack-rand'] as const;

export const AUTOATTACK_LIBRARY: AutoAttackLibrary = { apgd, apgdT, fab, square };

function scale(o: Record<string, unknown>, b: number, r: number): Record<string, unknown> {
  const out = { ...o };
  for (const k of ['steps', 'queries'])
    if (typeof out[k] === 'number' && (out[k] as number) > 1)
      out[k] = Math.max(1, Math.round((out[k] as number) * b));
  if (typeof out.restarts === 'number')
    out.restarts = Math.max(1, Math.round((out.restarts as number) * r));
  return out;
}

export interface SpecOptions {
  target?: Classifier;
  budgetScale?: number;
  restartScale?: number;
  /** EOT draws per gradient for the APGD attacks (stochastic models). */
  eotIter?: number;
  /** Checked against the attacks' supported norms. */
  norm?: Norm;
}

export function attackSpec(name: string, o: SpecOptions = {}): AttackSpec {
  const e = ENTRIES[name];
  if (!e)
    throw new RobustlabError(
      `unknown attack '${name}' (expected ${[...ENSEMBLES, ...ATTACK_NAMES].join(', ')})`,
    );
  if (o.norm && e.norms && !e.norms.includes(o.norm))
    throw new RobustlabError(
      `attack '${name}' supports only ${e.norms.join(', ')} (not ${o.norm})`,
    );
  const options = scale(e.options, o.budgetScale ?? 1, o.restartScale ?? 1);
  if (o.eotIter && e.fn === apgd) options.eotIter = o.eotIter;
  if (o.eotIter && e.fn === apgdT) options.eotIter = o.eotIter;
  return { name, fn: e.fn, kind: e.kind, options, blackBox: e.blackBox, target: o.target };
}

/** The attack list for `--attacks`: an ensemble name or comma-separated attack names. */
export function parseAttackList(
  s: string,
  norm?: Norm,
): {
  ensemble: AutoAttackVersion | null;
  names: string[];
} {
  const t = s.trim();
  if (t === 'autoattack') return { ensemble: 'standard', names: [] };
  if (t === 'autoattack-rand') return { ensemble: 'rand', names: [] };
  const names = t
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (names.length === 0) throw new RobustlabError('--attacks names no attack');
  for (const n of names) attackSpec(n, { norm }); // validates
  return { ensemble: null, names };
}

/** The specs of a parsed list (an ensemble expands to its stages). */
export function specsOf(
  list: { ensemble: AutoAttackVersion | null; names: string[] },
  o: SpecOptions = {},
): AttackSpec[] {
  if (list.ensemble) {
    if (list.ensemble === 'rand')
      // APGD-CE and APGD-DLR with EOT over 20 draws: needs only APGD.
      return [
        attackSpec('apgd-ce', {
          ...o,
          eotIter: o.eotIter ?? AUTOATTACK_SETTINGS.randApgdCe.eotIter,
        }),
        attackSpec('apgd-dlr', {
          ...o,
          eotIter: o.eotIter ?? AUTOATTACK_SETTINGS.randApgdDlr.eotIter,
        }),
      ];
    return autoAttackSpecs(AUTOATTACK_LIBRARY, {
      version: list.ensemble,
      budgetScale: o.budgetScale,
      restartScale: o.restartScale,
      target: o.target,
    });
  }
  return list.names.map((n) => attackSpec(n, o));
}

/** The attacks the reliability checks call. */
export const CHECK_ATTACKS: {
  fgsm: AttackCall;
  iterative: AttackCall;
  unbounded: AttackCall;
  square: AttackCall;
} = {
  fgsm: { name: 'fgsm', fn: fgsm },
  iterative: { name: 'pgd', fn: pgd, options: { steps: 100 } },
  unbounded: {
    name: 'pgd-margin',
    fn: pgd,
    options: { steps: 100, loss: 'margin', randomStart: false },
  },
  square: { name: 'square', fn: square, options: { ...AUTOATTACK_SETTINGS.square } },
};
