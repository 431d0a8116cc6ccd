/**
 * What a stage graph would take on N machines: list scheduling of measured stage times (the
 * executor's rule: of the ready stages, the longest remaining chain first), each stage holding
 * one worker slot for its time plus a fixed per-job overhead (queue handoff, data loading that
 * a local run shares). Also the two lower bounds no schedule beats: the critical path and total
 * work / slots.
 */
export interface SimStage {
  name: string;
  deps: string[];
  seconds: number;
}

export interface SimResult {
  slots: number;
  makespan: number;
  criticalPath: number;
  workBound: number;
  /** Busy slot-seconds / (slots × makespan). */
  utilisation: number;
}

/** Longest chain (sum of seconds + overhead) from each stage to the end of the graph. */
function remaining(stages: SimStage[], overhead: number): Map<string, number> {
  const dependents = new Map<string, SimStage[]>();
  for (const s of stages)
    for (const d of s.deps) dependents.set(d, [...(dependents.get(d) ?? []), s]);
  const memo = new Map<string, number>();
  const go = (s: SimStage): number => {
    const m = memo.get(s.name);
    if (m !== undefined) return m;
    const v = s.seconds + overhead + Math.max(0, ...(dependents.get(s.name) ?? []).map(go));
    memo.set(s.name, v);
    return v;
  };
  stages.forEach(go);
  return memo;
}

export function simulateSchedule(stages: SimStage[], slots: number, overhead = 0): SimResult {
  if (slots < 1) throw new RangeError('slots must be ≥ 1');
  const prio = remaining(stages, overhead);
  const done = new Set<string>();
  const started = new Set<string>();
  let running: { name: string; end: number }[] = [];
  let t = 0;
  let busy = 0;
  while (done.size < stages.length) {
    const ready = stages
      .filter((s) => !started.has(s.name) && s.deps.every((d) => done.has(d)))
      .sort((a, b) => prio.get(b.name)! - prio.get(a.name)!);
    for (const s of ready) {
      if (running.length >= slots) break;
      started.add(s.name);
      running.push({ name: s.name, end: t + s.seconds + overhead });
      busy += s.seconds + overhead;
    }
    if (!running.length) throw new Error('stage graph has unmet dependencies or a cycle');
    t = Math.min(...running.map((r) => r.end));
    for (const r of running) if (r.end <= t) done.add(r.name);
    running = running.filter((r) => r.end > t);
  }
  const total = stages.reduce((a, s) => a + s.seconds + overhead, 0);
  return {
    slots,
    makespan: t,
    criticalPath: Math.max(0, ...prio.values()),
    workBound: total / slots,
    utilisation: t > 0 ? busy / (slots * t) : 1,
  };
}
