/** Run the CLI's main() in this process with output captured (no test framework needed). */
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Run `robustlab <args>` in-process with `cwd` as the working directory. */
export async function cli(cwd: string, ...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const here = process.cwd();
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as never;
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as never;
  process.exitCode = 0;
  process.chdir(cwd);
  try {
    await main(args);
  } finally {
    process.chdir(here);
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out: out.join(''), err: err.join('') };
}
