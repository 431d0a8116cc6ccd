/** The fused host attacks against their tfjs paths: equal results, bit for bit. */
import { expect } from 'vitest';
import type { AttackResult } from '../attacks/base.js';

export function expectSameAttack(fused: AttackResult, ref: AttackResult): void {
  expect(Array.from(fused.steps)).toEqual(Array.from(ref.steps));
  expect(Array.from(fused.success)).toEqual(Array.from(ref.success));
  expect(Array.from(fused.finalLabel)).toEqual(Array.from(ref.finalLabel));
  expect(Array.from(fused.goalProb)).toEqual(Array.from(ref.goalProb));
  expect([fused.forwards, fused.backwards]).toEqual([ref.forwards, ref.backwards]);
  // bit for bit: count differing coordinates (NaN would differ too)
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < fused.xAdv.length; i++) {
    if (fused.xAdv[i] !== ref.xAdv[i]) differing++;
    maxDiff = Math.max(maxDiff, Math.abs(fused.xAdv[i] - ref.xAdv[i]));
  }
  expect({ differing, maxDiff }).toEqual({ differing: 0, maxDiff: 0 });
}
