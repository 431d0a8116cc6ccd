/** The stage graph's scheduling priority: critical path first. */
import { describe, expect, it } from 'vitest';
import { PRESETS } from './presets.js';
import { parseStageJob, stageJobOf } from './stage-job.js';
import {
  buildGraph,
  criticalPathPriority,
  estimatedCost,
  resolveGraph,
  splitStageName,
} from './stages.js';

describe('critical-path priority', () => {
  const g = buildGraph(['mnist'], PRESETS.paper, 0);
  const prio = criticalPathPriority(g);
  const byName = new Map(g.map((s) => [s.name, s]));

  it('is each stage’s cost plus the costliest chain after it', () => {
    for (const s of g) {
      const after = g.filter((d) => d.deps.includes(s.name)).map((d) => prio.get(d.name)!);
      expect(prio.get(s.name)).toBeCloseTo(estimatedCost(s) + Math.max(0, ...after), 9);
    }
    // sinks (nothing depends on them) carry only their own cost
    const sink = byName.get('svd/mnist/zero/seed0')!;
    expect(prio.get(sink.name)).toBe(estimatedCost(sink));
  });

  it('starts the VAE chain (generator → projection → latent classifiers) before image classifiers', () => {
    const vae = prio.get('generator/mnist/vae/seed0')!;
    for (const arch of ['1L', '2L', 'LRL'])
      expect(vae).toBeGreaterThan(prio.get(`classifier/mnist/image/${arch}/seed0`)!);
    expect(prio.get('codes/mnist/vae-projection/seed0')!).toBeGreaterThan(
      prio.get('codes/mnist/ae-projection/seed0')!,
    );
    expect([...prio.values()].every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  });
});

describe('seeds', () => {
  it('run every stage once per seed, each seed’s stages depending only on its own', () => {
    // (the paper preset evaluates only its first seed: without evaluation, every stage per seed)
    const noEval = { ...PRESETS.paper, evaluation: undefined };
    const one = buildGraph(['mnist'], noEval, [0]);
    const three = buildGraph(['mnist'], noEval, [0, 1, 2]);
    expect(three.length).toBe(3 * one.length);
    expect(new Set(three.map((s) => s.name)).size).toBe(three.length);
    for (const s of three) {
      const { seed } = splitStageName(s.name);
      expect(s.params.seed).toBe(seed);
      for (const d of s.deps) expect(splitStageName(d).seed).toBe(seed);
    }
    // Keys carry the seed: no two stages share a directory; seed 0 is the one-seed graph.
    const keys = resolveGraph(three, '/tmp/x').map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(resolveGraph(one, '/tmp/x').map((s) => s.key)).toEqual(keys.slice(0, one.length));
  });
});

// The quick preset evaluates only its 2L models at L∞; these tests evaluate everything.
const QUICK_EVAL = {
  ...PRESETS.quick,
  evaluation: { n: 50, projectionN: 20, checkSubset: 20, curveN: 20 },
};

describe('standard evaluation stages', () => {
  const evals = (p: typeof PRESETS.quick) =>
    buildGraph(['mnist'], p, [0]).filter((s) => s.kind === 'evaluate');

  it('evaluate every classifier (15) and the SVD-defended 2L (3) at both budgets', () => {
    const g = buildGraph(['mnist'], QUICK_EVAL, [0]);
    const names = new Set(g.map((s) => s.name));
    const ev = g.filter((s) => s.kind === 'evaluate');
    expect(ev.length).toBe((15 + 3) * 2);
    for (const s of ev) {
      expect(s.params.attacks).toBe(
        s.name.includes('/vae-encoding/') ? 'autoattack-rand' : 'autoattack',
      );
      for (const d of s.deps) expect(names.has(d)).toBe(true);
      const [, , space, arch, norm] = splitStageName(s.name).base.split('/');
      expect(s.params.eps).toBe(norm === 'linf' ? 0.1 : 1.0);
      // the model under evaluation first; latent models also the image model for the transfer check
      if (space.startsWith('image'))
        expect(s.deps).toEqual([`classifier/mnist/image/${arch}/seed0`]);
      else
        expect(s.deps).toEqual([
          `classifier/mnist/${space}/${arch}/seed0`,
          `classifier/mnist/image/${arch}/seed0`,
        ]);
      expect(s.params.n).toBe(space.endsWith('projection') ? 20 : 50);
      expect(s.params.projection).toBe(space.endsWith('projection') ? 'implicit' : undefined);
    }
    // Security curves: the 2L model of every space, APGD-CE on the first curveN points.
    const curved = ev.filter((s) => s.params.curve);
    expect(curved.map((s) => s.name).sort()).toEqual(
      ev
        .filter((s) => s.name.split('/')[3] === '2L' && !s.params.spectral)
        .map((s) => s.name)
        .sort(),
    );
    expect(curved.length).toBe(5 * 2);
    for (const s of curved) {
      expect(s.params.curveAttacks).toBe('apgd-ce');
      expect(s.params.curveN).toBe(20);
      expect((s.params.curve as number[]).includes(s.params.eps as number)).toBe(true);
    }
    const svd = ev.filter((s) => s.params.spectral);
    expect(svd.map((s) => (s.params.spectral as { fraction: number }).fraction).sort()).toEqual([
      0, 0, 0.15, 0.15, 0.4, 0.4,
    ]);
    expect(svd.every((s) => (s.params.spectral as { mode: string }).mode === 'zero')).toBe(true);
  });

  it('key on their settings: more points changes only the evaluate stages’ keys', () => {
    const a = resolveGraph(buildGraph(['mnist'], QUICK_EVAL, [0]), '/tmp/x');
    const more = {
      ...PRESETS.quick,
      evaluation: { n: 60, projectionN: 20, checkSubset: 20, curveN: 20 },
    };
    const b = resolveGraph(buildGraph(['mnist'], more, [0]), '/tmp/x');
    for (let i = 0; i < a.length; i++) {
      const projection = a[i].name.split('/')[2].endsWith('projection');
      const changed = a[i].kind === 'evaluate' && !projection;
      expect(a[i].key !== b[i].key).toBe(changed);
    }
    expect(new Set(a.map((s) => s.key)).size).toBe(a.length);
  });

  it('pass the queue worker’s payload check (names, params, inputs)', () => {
    const st = resolveGraph(buildGraph(['mnist'], QUICK_EVAL, [0]), '/tmp/x');
    const byName = new Map(st.map((s) => [s.name, s]));
    for (const s of st.filter((x) => x.kind === 'evaluate'))
      expect(parseStageJob(stageJobOf(s, byName, '/tmp/x')).key).toBe(s.key);
  });

  it('a job whose evaluate params were altered is malformed, naming the param', () => {
    const st = resolveGraph(buildGraph(['mnist'], QUICK_EVAL, [0]), '/tmp/x');
    const byName = new Map(st.map((s) => [s.name, s]));
    const s = st.find((x) => x.kind === 'evaluate' && x.params.curve)!;
    const altered: [string, unknown, RegExp][] = [
      ['curve', ['0.1'], /params\.curve = \["0\.1"\]/],
      ['curve', Array(202).fill(0.1), /params\.curve = /],
      ['curve', [0.1, -1], /params\.curve = /],
      ['curveN', 0, /params\.curveN = 0/],
      ['curveN', 2.5, /params\.curveN = 2\.5/],
      ['curveAttacks', 'pgd', /params\.curveAttacks = "pgd"/],
      ['checkSubset', -1, /params\.checkSubset = -1/],
      ['eps', 0, /params\.eps = 0/],
      ['attacks', 'fgsm', /params\.attacks = "fgsm"/],
      ['spectral', { mode: 'zero', fraction: 0.15, extra: 1 }, /params\.spectral = /],
      ['curveEps', [0.1], /unknown params\.curveEps for a evaluate stage/],
    ];
    for (const [param, value, message] of altered) {
      const job = structuredClone(stageJobOf(s, byName, '/tmp/x')); // its params are the stage's
      (job.params as Record<string, unknown>)[param] = value;
      expect(() => parseStageJob(job), param).toThrow(message);
      expect(() => parseStageJob(job), param).toThrow(/^malformed stage job: /);
    }
    // the optional curve params may be absent, but then the key no longer matches
    const job = structuredClone(stageJobOf(s, byName, '/tmp/x'));
    delete (job.params as Record<string, unknown>).curve;
    expect(() => parseStageJob(job)).toThrow(/does not match its name, params and dependencies/);
  });

  it('quick preset: the 2L image, AE- and VAE-encoding models and the SVD-defended 2L, at L∞ 0.1 only', () => {
    const ev = evals(PRESETS.quick);
    const base = ev.map((s) => splitStageName(s.name).base.split('/'));
    expect(new Set(base.map((b) => b[2]))).toEqual(
      new Set(['image', 'ae-encoding', 'vae-encoding', 'image-svd0', 'image-svd15', 'image-svd40']),
    );
    expect(new Set(base.map((b) => b[3]))).toEqual(new Set(['2L']));
    expect(new Set(base.map((b) => b[4]))).toEqual(new Set(['linf']));
    expect(ev.length).toBe(3 + 3);
    expect(new Set(ev.map((s) => s.params.n))).toEqual(new Set([100]));
    expect(ev.every((s) => s.params.eps === 0.1 && (s.params.checkSubset as number) > 0)).toBe(
      true,
    );
    expect(ev.filter((s) => s.params.curve).length).toBe(3);
  });

  it('are off in the smoke preset and sized 1000 / 200 in the paper preset', () => {
    expect(evals(PRESETS.smoke)).toEqual([]);
    const paper = evals(PRESETS.paper);
    expect(new Set(paper.map((s) => s.params.n))).toEqual(new Set([1000, 200, 100]));
    expect(paper.every((s) => estimatedCost(s) > 0)).toBe(true);
  });

  it('in the paper preset: the first seed only, checks on the 2L models at L∞, curves on 200 points', () => {
    const ev = buildGraph(['mnist'], PRESETS.paper, [0, 1, 2]).filter((s) => s.kind === 'evaluate');
    // L∞: all 15 + the 3 SVD rows; L2: the 2L model of each space + the 3 SVD rows
    expect(ev.length).toBe(15 + 3 + 5 + 3);
    expect(
      ev.filter((s) => s.params.norm === 'l2').every((s) => s.name.split('/')[3] === '2L'),
    ).toBe(true);
    expect(ev.every((s) => s.name.endsWith('/seed0'))).toBe(true);
    // projection spaces: 200 points where the checks run, 100 elsewhere; curves within n
    for (const s of ev.filter((x) => x.name.split('/')[2].endsWith('projection'))) {
      expect(s.params.n).toBe(s.params.checkSubset ? 200 : 100);
      if (s.params.curve) expect(s.params.curveN).toBe(s.params.n);
    }
    for (const s of ev)
      expect(s.params.checkSubset).toBe(
        s.params.norm === 'linf' && s.name.split('/')[3] === '2L' ? 100 : 0,
      );
    expect(ev.filter((s) => s.params.curve).length).toBe(10);
    // other seeds first: the first evaluated seed is the run's first, whatever its number
    const later = buildGraph(['mnist'], PRESETS.paper, [7, 0]).filter((s) => s.kind === 'evaluate');
    expect(later.every((s) => s.name.endsWith('/seed7'))).toBe(true);
  });
});
