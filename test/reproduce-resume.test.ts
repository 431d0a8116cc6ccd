/**
 * Kill a real `robustlab reproduce` child process part-way with SIGKILL, run it again, and
 * check that the rerun finishes, recomputes only unfinished stages, and gives the same results
 * as an uninterrupted run with the same seed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { runNode } from '../src/testing/spawn.js';
import { slowTests } from '../src/testing/slow-tests.js';

// tests of many seconds: vitest-setup.ts pauses before each (its RPC timeout)
slowTests();

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const args = (out: string) => [
  '--import',
  'tsx',
  join(REPO_ROOT, 'src/cli/run-dev.ts'),
  'reproduce',
  '--preset',
  'smoke',
  '--dataset',
  'mnist',
  '--workers',
  '1',
  '--out',
  out,
  '--data-dir',
  TEST_DATA_DIR,
  '--json',
];

function finished(out: string): string[] {
  const dir = join(out, 'stages');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((d) => existsSync(join(dir, d, 'stage.json')));
}

/** results.json without timings and paths, which legitimately differ between runs. */
function comparable(out: string): unknown {
  const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .filter(
            ([k]) => !/seconds|timings|wall|rss|computedStages|reusedStages|out$|model$/i.test(k),
          )
          .map(([k, x]) => [k, strip(x)]),
      );
    }
    return v;
  };
  return strip(r);
}

describe('reproduce resumes after a kill', () => {
  it('finishes with the same results, recomputing only unfinished stages', async () => {
    const ref = join(tmp, 'ref');
    const full = await runNode(args(ref), { cwd: REPO_ROOT });
    expect(full.code, full.err).toBe(0);
    const total = finished(ref).length;
    expect(total).toBeGreaterThan(40);

    const run = join(tmp, 'run');
    const child = spawn(process.execPath, args(run), { cwd: REPO_ROOT, stdio: 'ignore' });
    // Wait until some, but not all, stages are done, then kill hard.
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (finished(run).length >= 8) {
          clearInterval(t);
          child.kill('SIGKILL');
          resolve();
        }
      }, 50);
      child.on('exit', () => {
        clearInterval(t);
        reject(new Error('the run ended before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    const before = finished(run);
    expect(before.length).toBeGreaterThanOrEqual(8);
    expect(before.length).toBeLessThan(total);
    expect(existsSync(join(run, 'results.json'))).toBe(false);
    // The killed invocation left its record, rewritten after each stage it computed.
    const killed = JSON.parse(readFileSync(join(run, 'runs.json'), 'utf8')).runs;
    expect(killed.length).toBe(1);
    expect(killed[0].finished).toBe(false);
    expect(killed[0].computedStages).toBeGreaterThanOrEqual(1);
    expect(killed[0].computedStages).toBeLessThanOrEqual(before.length);
    expect(killed[0].wallSeconds).toBeGreaterThan(0);

    const again = await runNode(args(run), { cwd: REPO_ROOT });
    expect(again.code, again.err).toBe(0);
    const out = JSON.parse(again.out);
    // Only the unfinished stages were computed.
    expect(out.cached.length).toBe(before.length);
    expect(out.computed.length + out.cached.length).toBe(total);
    expect(comparable(run)).toEqual(comparable(ref));
    // The run's wall time is both invocations': the killed one up to its last stage, then the rerun.
    const res = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'));
    expect(res.wallClockRuns.map((r: { finished: boolean }) => r.finished)).toEqual([false, true]);
    expect(res.wallClockRuns[0]).toEqual(killed[0]);
    expect(res.wallSeconds).toBeCloseTo(
      killed[0].wallSeconds + res.wallClockRuns[1].wallSeconds,
      6,
    );
    // Three reproduce runs in child processes: its own budget, for a loaded machine.
  }, 900_000);

  it('a rerun with everything cached keeps the recorded timings and memory', async () => {
    const ref = join(tmp, 'ref');
    const before = JSON.parse(readFileSync(join(ref, 'results.json'), 'utf8'));
    const again = await runNode(args(ref), { cwd: REPO_ROOT });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out).computed).toEqual([]);
    const after = JSON.parse(readFileSync(join(ref, 'results.json'), 'utf8'));
    expect(after.computedStages).toBe(0);
    // The wall time and memory are those of the run that computed the stages, not this one.
    expect(after.timings).toEqual(before.timings);
    expect(after.wallSeconds).toBe(before.wallSeconds);
    expect(after.peakRssMiB).toBe(before.peakRssMiB);
    expect(after.totalStageSeconds).toBe(before.totalStageSeconds);
    expect(after.wallClockRuns).toEqual(before.wallClockRuns);
    expect(after.computePaths.length).toBeGreaterThan(0);
  }, 300_000);
});
