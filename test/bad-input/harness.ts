/**
 * Harness of the bad-input corpus: run the CLI's main() in this process (stdout, stderr and the
 * exit code captured), in a scratch workspace, and check what every refused command must do:
 * a non-zero exit, exactly one line on stderr that starts with `robustlab: ` and names the
 * problem, no stack trace and no "internal error", nothing on stdout, and nothing in the
 * workspace changed (no file created, removed, resized or rewritten).
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

export { cli, type CliResult } from './run-cli.js';
import { cli, type CliResult } from './run-cli.js';

let quietEnv = false;
/** The workspace: an empty directory that is the working directory while a command runs. */
export function workspace(label: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `robustlab-bad-${label}-`));
  if (!quietEnv) {
    // Never find data or runs of the user's by accident.
    process.env.ROBUSTLAB_DATA = '';
    process.env.XDG_CACHE_HOME = join(dir, '.cache');
    quietEnv = true;
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every entry under `dir`: type, size and modification time (a cheap "changed?" test). */
export function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const type = st.isDirectory()
        ? 'd'
        : st.isFile()
          ? 'f'
          : st.isFIFO()
            ? 'p'
            : st.isSymbolicLink()
              ? 'l'
              : 'o';
      m.set(p, `${type} ${st.isDirectory() ? '' : st.size} ${st.isDirectory() ? '' : st.mtimeMs}`);
      if (type === 'd') walk(p);
    }
  };
  walk(dir);
  return m;
}

export function diffSnapshots(a: Map<string, string>, b: Map<string, string>): string[] {
  const d: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) d.push(`${b.has(k) ? 'changed' : 'removed'} ${k}`);
  for (const k of b.keys()) if (!a.has(k)) d.push(`created ${k}`);
  return d;
}

/** Assert a refused command: exit ≠ 0, one `robustlab:` line matching `problem`, nothing changed. */
export function expectRefused(r: CliResult, problem: RegExp, changed: string[] = []): void {
  const lines = r.err.split('\n').filter((l) => l !== '');
  expect(r.code, r.err).not.toBe(0);
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^robustlab: /);
  expect(lines[0]).not.toMatch(/internal error|^\s+at |Error:|ERR_/);
  expect(lines[0]).toMatch(problem);
  expect(r.out).toBe('');
  expect(changed).toEqual([]);
}

/** Run a command that must be refused and check it, including "nothing changed in `root`". */
export async function refused(
  root: string,
  cwd: string,
  args: string[],
  problem: RegExp,
): Promise<CliResult> {
  const before = snapshot(root);
  const r = await cli(cwd, ...args);
  expectRefused(r, problem, diffSnapshots(before, snapshot(root)));
  return r;
}

/** A counter per class, printed at the end of each file (the report counts them). */
export const counts = new Map<string, number>();
export function countCase(cls: string): void {
  counts.set(cls, (counts.get(cls) ?? 0) + 1);
}
