import { describe, expect, it } from 'vitest';
import { simulateSchedule, type SimStage } from './schedule-sim.js';
import { buildGraph } from './stages.js';
import { PRESETS } from './presets.js';

describe('simulateSchedule', () => {
  const chain: SimStage[] = [
    { name: 'a', deps: [], seconds: 10 },
    { name: 'b', deps: ['a'], seconds: 5 },
    { name: 'c', deps: [], seconds: 4 },
    { name: 'd', deps: [], seconds: 4 },
  ];

  it('one slot takes the total work; many slots the critical path', () => {
    expect(simulateSchedule(chain, 1).makespan).toBe(23);
    expect(simulateSchedule(chain, 8).makespan).toBe(15);
    expect(simulateSchedule(chain, 8).criticalPath).toBe(15);
    // Per-job overhead adds to every stage on the path.
    expect(simulateSchedule(chain, 8, 1).makespan).toBe(17);
  });

  it('stays within Graham’s bounds on the study graph: max(CP, W/m) ≤ T ≤ CP + W/m', () => {
    // Costs that vary by kind, so the bounds are not trivially equal.
    const defs = buildGraph(['mnist', 'fashion-mnist'], PRESETS.paper, 0);
    const stages = defs.map((d, i) => ({
      name: d.name,
      deps: d.deps,
      seconds: d.kind === 'codes' ? 200 : d.kind === 'classifier' ? 30 + (i % 7) : 5,
    }));
    for (const slots of [1, 2, 3, 4, 8, 16, 64]) {
      const r = simulateSchedule(stages, slots, 0.5);
      expect(r.makespan).toBeGreaterThanOrEqual(Math.max(r.criticalPath, r.workBound) - 1e-9);
      expect(r.makespan).toBeLessThanOrEqual(r.criticalPath + r.workBound + 1e-9);
      expect(r.utilisation).toBeLessThanOrEqual(1 + 1e-12);
    }
    expect(simulateSchedule(stages, 1000, 0.5).makespan).toBeCloseTo(
      simulateSchedule(stages, 1000, 0.5).criticalPath,
      6,
    );
  });
});
