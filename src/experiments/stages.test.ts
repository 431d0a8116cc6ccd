/** The stage graph's scheduling priority: critical path first. */
import { describe, expect, it } from 'vitest';
import { PRESETS } from './presets.js';
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
    const one = buildGraph(['mnist'], PRESETS.paper, [0]);
    const three = buildGraph(['mnist'], PRESETS.paper, [0, 1, 2]);
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
