/**
 * Child process of the FIFO cases: runs each case's command through main() and prints one JSON
 * line per case. If a command opened a named pipe it would block here forever; the parent
 * kills this process after a timeout and reports the cases that gave no line.
 */
import { cli } from './run-cli.js';

const { cwd, cases } = JSON.parse(process.env.ROBUSTLAB_FIFO_CASES!) as {
  cwd: string;
  cases: { name: string; args: string[] }[];
};
process.env.ROBUSTLAB_DATA = '';
for (const c of cases) {
  const r = await cli(cwd, ...c.args);
  process.stdout.write(JSON.stringify({ name: c.name, ...r }) + '\n');
}
