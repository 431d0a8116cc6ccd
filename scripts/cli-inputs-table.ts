/**
 * Prints the option tables of docs/cli-inputs.md from the commands' own schemas, so the
 * documented ranges are the enforced ones: `node --import tsx scripts/cli-inputs-table.ts`.
 */
import type { Schema } from '../src/cli/args.js';
import * as attack from '../src/cli/commands/attack.js';
import * as data from '../src/cli/commands/data.js';
import * as evalCmd from '../src/cli/commands/eval.js';
import * as figure from '../src/cli/commands/figure.js';
import * as info from '../src/cli/commands/info.js';
import * as latent from '../src/cli/commands/latent.js';
import * as reproduce from '../src/cli/commands/reproduce.js';
import * as svd from '../src/cli/commands/svd.js';
import * as train from '../src/cli/commands/train.js';

const commands: [string, Schema][] = [
  ['reproduce', reproduce.OPTIONS],
  ['train classifier', train.CLASSIFIER_OPTIONS],
  ['train ae | train vae', train.GENERATOR_OPTIONS],
  ['latent', latent.OPTIONS],
  ['eval', evalCmd.OPTIONS],
  ['attack', attack.OPTIONS],
  ['svd', svd.OPTIONS],
  ['figure KIND', figure.OPTIONS],
  ['data fetch | data verify', data.OPTIONS],
  ['info', info.OPTIONS],
];
const cell = (s: string) => s.replaceAll('|', '\\|');
for (const [name, schema] of commands) {
  console.log(`### \`robustlab ${name}\`\n`);
  console.log('| option | accepts | default | note |');
  console.log('| --- | --- | --- | --- |');
  for (const [k, o] of Object.entries(schema)) {
    const def =
      o.default === undefined
        ? ''
        : Array.isArray(o.default)
          ? `${o.default.length} values`
          : String(o.default);
    const allowed = k === 'workers' ? 'an integer in 1..(number of cores)' : o.allowed;
    console.log(
      `| \`--${k}\` | ${cell(allowed)}${o.multiple ? ' (repeatable)' : ''} | ${cell(def)} | ${cell(o.help ?? '')} |`,
    );
  }
  console.log('');
}
