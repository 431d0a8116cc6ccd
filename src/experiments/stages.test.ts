/** The stage graph's scheduling priority: critical path first. */
import { describe, expect, it } from 'vitest';
import { PRESETS } from './presets.js';
import { buildGraph, criticalPathPriority, estimatedCost } from './stages.js';

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
    const sink = byName.get('svd/mnist/zero')!;
    expect(prio.get(sink.name)).toBe(estimatedCost(sink));
  });

  it('starts the VAE chain (generator → projection → latent classifiers) before image classifiers', () => {
    const vae = prio.get('generator/mnist/vae')!;
    for (const arch of ['1L', '2L', 'LRL'])
      expect(vae).toBeGreaterThan(prio.get(`classifier/mnist/image/${arch}`)!);
    expect(prio.get('codes/mnist/vae-projection')!).toBeGreaterThan(
      prio.get('codes/mnist/ae-projection')!,
    );
    expect([...prio.values()].every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  });
});
