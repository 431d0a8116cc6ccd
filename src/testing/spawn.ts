/**
 * Child processes for tests, always asynchronous. A test that waits in spawnSync blocks its
 * vitest worker's event loop; when the child runs for over a minute (easily, on a loaded
 * machine) the worker's pending RPC to the main process ("onTaskUpdate") times out and vitest
 * exits 1 although every test passed. Awaiting a child keeps the event loop free.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './fixtures.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Run `node <args>` to completion, collecting stdout and stderr. */
export function runNode(
  args: string[],
  opts: SpawnOptions & { input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
    child.stdin!.end(opts.input ?? '');
  });
}

/** The node arguments that run the CLI from source (no build needed). */
export function cliArgs(...args: string[]): string[] {
  const loader = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return ['--import', loader, join(REPO_ROOT, 'src/cli/run-dev.ts'), ...args];
}

/** Run `robustlab <args>` from source in a child process. */
export function runCli(args: string[], opts: SpawnOptions & { input?: string } = {}) {
  return runNode(cliArgs(...args), opts);
}
