/** Benchmark helpers: median of repeated timings after a warm-up. */
export interface Timing {
  median: number;
  runs: number[];
}

export function time(fn: () => void, opts: { warmup?: number; repeats?: number } = {}): Timing {
  for (let i = 0; i < (opts.warmup ?? 1); i++) fn();
  const runs: number[] = [];
  for (let i = 0; i < (opts.repeats ?? 3); i++) {
    const t = performance.now();
    fn();
    runs.push((performance.now() - t) / 1000);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], runs };
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) =>
    r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(3)) : c)),
  );
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  return [
    line(headers),
    '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|',
    ...cells.map(line),
  ].join('\n');
}
