import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { apgd, apgdT } from '../attacks/apgd.js';
import { fab } from '../attacks/fab.js';
import { hostRowNorms } from '../attacks/norms.js';
import { pgd as pgdAttack } from '../attacks/pgd.js';
import { square } from '../attacks/square.js';
import { nativeLoops } from '../backend/host-kernels.js';
import { Rng } from '../util/rng.js';
import { predict, type MlpClassifier } from '../models/classifier.js';
import { smallMnistLrl, testFgsm, testPgd } from '../testing/evaluation-fixtures.js';
import { testBackend } from '../testing/fixtures.js';
import { decodeNpy, encodeNpy } from './npy.js';
import {
  boundedCurve,
  budgetTolerance,
  CountingClassifier,
  curveFromDistances,
  evaluateRobustness,
  projectRow,
  type AttackSpec,
} from './robust-accuracy.js';

let clf: MlpClassifier;
let x: Float32Array;
let y: Int32Array;
const N = 60;

const fgsm: AttackSpec = { name: 'fgsm', fn: testFgsm, kind: 'bounded', options: {} };
const pgd: AttackSpec = { name: 'pgd', fn: testPgd, kind: 'bounded', options: { steps: 10 } };

beforeAll(async () => {
  await testBackend();
  ({ clf, x, y } = await smallMnistLrl({ test: N }));
});

describe('evaluateRobustness on a real MNIST LRL', () => {
  it('keeps the worst case per example: the ensemble is ≤ each attack alone, within budget', () => {
    for (const norm of ['linf', 'l2'] as const) {
      const eps = norm === 'linf' ? 0.1 : 1.0;
      const before = tf.memory().numTensors;
      const alone = [fgsm, pgd].map(
        (a) =>
          evaluateRobustness(clf, x, y, N, { norm, eps, attacks: [a], silent: true })
            .robustAccuracy,
      );
      const both = evaluateRobustness(clf, x, y, N, {
        norm,
        eps,
        attacks: [fgsm, pgd],
        silent: true,
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(both.cleanAccuracy).toBeGreaterThan(0.8);
      expect(both.robustAccuracy).toBeLessThanOrEqual(Math.min(...alone));
      expect(both.robustAccuracy).toBeLessThan(both.cleanAccuracy); // real attacks do something
      // PGD runs only on the points FGSM left robust.
      const robustAfterFgsm = Math.round(both.attacks[0].robustAccuracyAfter * N);
      expect(both.attacks[1].attacked).toBe(robustAfterFgsm);
      // Every adversarial is within ε and the box, and is misclassified.
      const d = hostRowNorms(both.xAdv, x, N, 784, norm);
      const tol = budgetTolerance(eps, norm, 784);
      for (let i = 0; i < N; i++) expect(d[i]).toBeLessThanOrEqual(eps + tol);
      for (const v of both.xAdv) expect(v >= 0 && v <= 1).toBe(true);
      for (let i = 0; i < N; i++) {
        if (both.brokenBy[i] && both.brokenBy[i] !== 'clean') {
          expect(both.advLabel[i]).not.toBe(y[i]);
          expect(both.distance[i]).toBeLessThanOrEqual(eps + tol);
        }
        expect(both.robustScore[i] >= 0.5).toBe(both.brokenBy[i] === null);
      }
      expect(both.attacks.every((a) => a.outOfBudget === 0)).toBe(true);
    }
  });

  it('counts forward and backward rows', () => {
    const c = new CountingClassifier(clf);
    testPgd(c, x, 5, y, { eps: 0.05, steps: 4 });
    // at most 1 forward+backward per step per row (+ the last check and the re-evaluation)
    expect(c.backwards).toBeGreaterThan(0);
    expect(c.backwards).toBeLessThanOrEqual(5 * 4);
    expect(c.forwards).toBeGreaterThanOrEqual(c.backwards);
    const ev = evaluateRobustness(clf, x, y, N, {
      norm: 'linf',
      eps: 0.1,
      attacks: [fgsm],
      silent: true,
    });
    expect(ev.attacks[0].backwards).toBeLessThanOrEqual(ev.attacks[0].attacked);
    expect(ev.attacks[0].backwards).toBeGreaterThan(0);
  });

  it('gives curves that fall with ε, from distances and from bounded attacks', () => {
    const grid = [0, 0.05, 0.1, 0.2];
    const curve = boundedCurve(clf, x, y, N, grid, { norm: 'linf', attacks: [pgd], silent: true });
    expect(curve.map((p) => p.eps)).toEqual(grid);
    for (let i = 1; i < curve.length; i++)
      expect(curve[i].envelope).toBeLessThanOrEqual(curve[i - 1].envelope);
    // ε = 0: robust accuracy is the clean accuracy
    const clean = evaluateRobustness(clf, x, y, N, {
      norm: 'linf',
      eps: 0,
      attacks: [],
      silent: true,
    });
    expect(curve[0].robustAccuracy).toBeCloseTo(clean.cleanAccuracy, 10);
    const dc = curveFromDistances(Float64Array.from([0, 0.1, 0.3, Infinity]), [0, 0.1, 0.2, 1]);
    expect(dc).toEqual([0.75, 0.5, 0.5, 0.25]);
  });

  it('judges a stochastic model over fresh draws', () => {
    // a randomised model: logits plus fresh noise on every call
    let calls = 0;
    const noisy = {
      inputDim: 784,
      numClasses: 10,
      logits: (xb: tf.Tensor2D) =>
        tf.tidy(() =>
          tf.add(clf.logits(xb), tf.randomNormal([xb.shape[0], 10], 0, 4, 'float32', calls++)),
        ) as tf.Tensor2D,
      dispose: () => {},
    };
    const ev = evaluateRobustness(noisy, x, y, N, {
      norm: 'linf',
      eps: 0.05,
      attacks: [fgsm],
      draws: 5,
      silent: true,
    });
    expect(ev.draws).toBe(5);
    expect(ev.robustAccuracyDraws).toHaveLength(5);
    expect(new Set(ev.cleanAccuracyDraws).size).toBeGreaterThan(1);
    for (const s of ev.robustScore)
      expect([0, 0.2, 0.4, 0.6, 0.8, 1].some((v) => Math.abs(v - s) < 1e-6)).toBe(true);
  });
});

describe("the evaluation's shortcuts give its results unchanged", () => {
  it("the addon's boxBallDistances: projectRow's distance and in-box verdict, row by row", () => {
    const loops = nativeLoops();
    if (!loops?.boxBallDistances) return; // no addon: projectRow alone runs
    const rng = new Rng(3);
    const rows = 41;
    const d = 97;
    const x0 = Float32Array.from({ length: rows * d }, () => rng.next());
    const adv = Float32Array.from(x0, (v) =>
      Math.min(1, Math.max(0, v + (rng.next() - 0.5) * 0.7)),
    );
    adv[3 * d + 5] = 1.0000001; // just outside the box
    adv[7 * d + 96] = NaN;
    adv[9 * d] = -0; // inside
    adv[11 * d + 1] = -1e-9;
    adv[13 * d + 2] = Infinity;
    for (const [mode, norm] of [
      [0, 'linf'],
      [1, 'l2'],
    ] as const) {
      const out = new Float64Array(rows);
      loops.boxBallDistances(adv, x0, rows, d, mode, out);
      const tol = budgetTolerance(0.3, norm, d);
      let outside = 0;
      for (let r = 0; r < rows; r++) {
        const p = projectRow(adv.slice(), x0, r, d, Infinity, norm, tol);
        const inBox = adv.subarray(r * d, (r + 1) * d).every((v) => v >= 0 && v <= 1);
        expect(Number.isNaN(out[r])).toBe(!inBox);
        if (!inBox) outside++;
        else {
          expect(p.moved).toBe(false);
          expect(out[r]).toBe(p.dist); // the same float64, not just close
        }
      }
      expect(outside).toBe(4);
    }
  });

  it('callerJudges: the same points and verdicts, without the final re-evaluation pass', () => {
    const n = 12;
    const o = { eps: 0.1, norm: 'linf' as const, steps: 8, seed: 4, silent: true };
    const runs = [
      (j: boolean) => apgd(clf, x, n, y, { ...o, callerJudges: j }),
      (j: boolean) => apgdT(clf, x, n, y, { ...o, nTargetClasses: 2, callerJudges: j }),
      (j: boolean) => square(clf, x, n, y, { ...o, steps: 30, callerJudges: j }),
      (j: boolean) => fab(clf, x, n, y, { ...o, nTargetClasses: 2, callerJudges: j }),
      (j: boolean) => pgdAttack(clf, x, n, y, { ...o, callerJudges: j }),
    ];
    for (const run of runs) {
      const own = run(false);
      const deferred = run(true);
      expect(deferred.xAdv).toEqual(own.xAdv);
      expect(deferred.success).toEqual(own.success);
      expect(Array.from(deferred.finalLabel)).toEqual(new Array(n).fill(-1));
      expect(deferred.forwards).toBeLessThanOrEqual(own.forwards!);
    }
  });

  it('knownCorrect: APGD without its clean pass gives the same points on correct inputs', () => {
    const clean = predict(clf, x, N).labels;
    const idx = Array.from({ length: N }, (_, i) => i).filter((i) => clean[i] === y[i]);
    const xs = new Float32Array(idx.length * 784);
    idx.forEach((i, j) => xs.set(x.subarray(i * 784, (i + 1) * 784), j * 784));
    const ys = Int32Array.from(idx, (i) => y[i]);
    const o = { eps: 0.1, steps: 8, seed: 5, silent: true };
    const own = apgd(clf, xs, idx.length, ys, o);
    const known = apgd(clf, xs, idx.length, ys, { ...o, knownCorrect: true });
    expect(known.xAdv).toEqual(own.xAdv);
    expect(known.success).toEqual(own.success);
    expect(known.forwards).toBe(own.forwards! - idx.length); // one clean pass fewer
  });
});

describe('npy', () => {
  it('round-trips float32 and int32 arrays with a 64-byte aligned header', () => {
    const a = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => i / 1000);
    const bytes = encodeNpy(a, [2, 28, 28]);
    const header = new TextDecoder().decode(bytes.subarray(10, 128));
    expect(header).toContain("'descr': '<f4', 'fortran_order': False, 'shape': (2, 28, 28)");
    const dataStart = 10 + (bytes[8] | (bytes[9] << 8));
    expect(dataStart % 64).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([2, 28, 28]);
    expect(Array.from(back.data)).toEqual(Array.from(a));
    const l = decodeNpy(encodeNpy(Int32Array.from([3, -1, 7]), [3]));
    expect(l.shape).toEqual([3]);
    expect(Array.from(l.data)).toEqual([3, -1, 7]);
    expect(() => encodeNpy(a, [3, 28, 28])).toThrow(/shape/);
  });
});
