/**
 * Bad-input corpus, part 1: options. Every option of every command gets values of the wrong
 * kind or out of its documented range (generated from the command's own schema), plus repeats,
 * unknown names, missing values, stray arguments and prototype keys. All run main() in-process
 * and must be refused with one line naming the option, the value and what is allowed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OptSpec, Schema } from '../src/cli/args.js';
import * as attack from '../src/cli/commands/attack.js';
import * as data from '../src/cli/commands/data.js';
import * as evalCmd from '../src/cli/commands/eval.js';
import * as figure from '../src/cli/commands/figure.js';
import * as info from '../src/cli/commands/info.js';
import * as latent from '../src/cli/commands/latent.js';
import * as reproduce from '../src/cli/commands/reproduce.js';
import * as svd from '../src/cli/commands/svd.js';
import * as train from '../src/cli/commands/train.js';
import { cli, countCase, counts, refused, workspace } from './bad-input/harness.js';

const ws = workspace('options');
afterAll(() => {
  ws.cleanup();
  console.log('bad-input options cases:', Object.fromEntries(counts));
});

/** Commands and their schemas; `prefix` is what comes before the options. */
const COMMANDS: { prefix: string[]; schema: Schema }[] = [
  { prefix: ['train', 'classifier'], schema: train.CLASSIFIER_OPTIONS },
  { prefix: ['train', 'ae'], schema: train.GENERATOR_OPTIONS },
  { prefix: ['eval'], schema: evalCmd.OPTIONS },
  { prefix: ['attack'], schema: attack.OPTIONS },
  { prefix: ['latent'], schema: latent.OPTIONS },
  { prefix: ['svd'], schema: svd.OPTIONS },
  { prefix: ['reproduce'], schema: reproduce.OPTIONS },
  { prefix: ['figure', 'accuracy'], schema: figure.OPTIONS },
  { prefix: ['data', 'fetch'], schema: data.OPTIONS },
  { prefix: ['info'], schema: info.OPTIONS },
];

/** Wrong values for an option of this kind and range (each one must be refused). */
function badValues(spec: OptSpec): string[] {
  const range = /in (-?[\d.e+]+)\.\.(-?[\d.e+]+)/.exec(spec.allowed);
  switch (spec.kind) {
    case 'int': {
      const [min, max] = range ? [Number(range[1]), Number(range[2])] : [0, 0];
      return ['', '0x2', '1e300', '2.5', 'abc', String(min - 1), String(max + 1)];
    }
    case 'number':
      return ['', 'abc', '0x1', 'Infinity', 'NaN', '1e400', '-1e38', '1e38'];
    case 'choice':
      return ['', '__proto__', 'constructor', 'no-such-name'];
    case 'numbers':
      return ['', '0.5,,0.9', '0:1e-9:1', 'a,b', '2', '0:0:1', '1:0.1:0'];
    case 'path':
    case 'string':
      return [''];
    default:
      return [];
  }
}

describe('every option refuses values of the wrong kind or out of range', () => {
  for (const { prefix, schema } of COMMANDS) {
    for (const [name, spec] of Object.entries(schema)) {
      const values = badValues(spec);
      if (!values.length) continue;
      it(`${prefix.join(' ')} --${name}`, async () => {
        for (const v of values) {
          const r = await refused(
            ws.dir,
            ws.dir,
            [...prefix, `--${name}`, v],
            new RegExp(`^robustlab: --${name} must be .* \\(got '`),
          );
          // The message says what is allowed, in the schema's words.
          expect(r.err).toContain(spec.allowed);
          countCase('option value');
        }
      });
    }
  }
});

describe('option structure', () => {
  const cases: [string[], RegExp][] = [
    [
      ['train', 'classifier', '--dataset', 'mnist', '--dataset', 'fashion-mnist'],
      /--dataset given twice \('mnist', then 'fashion-mnist'\); give it once/,
    ],
    [['reproduce', '--preset', 'quick', '--preset', 'paper'], /--preset given twice/],
    [['attack', '--json', '--json'], /--json given twice/],
    [
      ['train', 'classifier', '--epoch', '3'],
      /unknown option --epoch for 'train classifier' \(did you mean --epochs\?\)/,
    ],
    [['train', 'ae', '--dataste', 'mnist'], /unknown option --dataste .*did you mean --dataset\?/],
    [['attack', '--max-step', '5'], /did you mean --max-steps\?/],
    [['svd', '--fraction', '0,1'], /did you mean --fractions\?/],
    [['reproduce', '--worker', '1'], /did you mean --workers\?/],
    [['latent', '--vaecode', 'mean'], /did you mean --vae-code\?/],
    [
      ['eval', '--xyzzy-plugh'],
      /unknown option --xyzzy-plugh for 'eval' \(see robustlab eval --help\)/,
    ],
    [['attack', '--n', '-1'], /^robustlab: --n must be an integer in 1\.\.10000 \(got '-1'\)$/],
    [['attack', '--n', '-5x'], /--n must be an integer/],
    [['attack', '--n'], /--n needs a value: an integer in 1\.\.10000/],
    [['attack', '--model', '--json'], /--model needs a value/],
    [['attack', '-x'], /unknown option '-x' for 'attack'/],
    [['eval', 'stray'], /unexpected argument 'stray' for 'eval'/],
    [['info', '--json=yes'], /--json takes no value/],
    [
      ['train', 'classifier', '--epochs', '1e300'],
      /--epochs must be an integer in 1\.\.10000 \(got '1e300'\)/,
    ],
    [['train', 'classifier', '--hidden', '100000000'], /--hidden must be an integer in 1\.\.4096/],
    [
      ['train', 'classifier', '--seed', '4294967296'],
      /--seed must be an integer in 0\.\.4294967295/,
    ],
    [['attack', '--step-size', '1e38'], /--step-size must be a number in \(0, 100\]/],
    [['svd', '--fractions', '0:1e-9:1'], /at most 1001 values/],
    [
      ['reproduce', '--workers', '64'],
      new RegExp(`--workers must be an integer in 1\\.\\.${reproduce.MAX_WORKERS}`),
    ],
    [['attack', '--model', 'x', '--lambda', 'abc'], /--lambda must be a number/],
    [['eval', '--model', 'a\nb'], /--model must be a non-empty path \(got 'a\\nb'\)/],
  ];
  for (const [args, problem] of cases) {
    it(args.join(' ').replace(/\n/g, '\\n'), async () => {
      await refused(ws.dir, ws.dir, args, problem);
      countCase('option structure');
    });
  }
});

describe('user-given names are looked up as own properties only', () => {
  const cases: [string[], RegExp][] = [
    [['__proto__'], /unknown command '__proto__'/],
    [['constructor'], /unknown command 'constructor'/],
    [['toString'], /unknown command 'toString'/],
    [['train', 'constructor'], /unknown model kind 'constructor'/],
    [['train', '__proto__'], /unknown model kind '__proto__'/],
    [['figure', 'constructor', '--dataset', 'mnist'], /unknown figure 'constructor'/],
    [['figure', '__proto__', '--dataset', 'mnist'], /unknown figure '__proto__'/],
    [['figure', 'hasOwnProperty', '--dataset', 'mnist'], /unknown figure 'hasOwnProperty'/],
    [['data', '__proto__'], /unknown data command '__proto__'/],
    [
      ['reproduce', '--preset', '__proto__'],
      /--preset must be one of: paper, quick, smoke, tiny \(got '__proto__'\)/,
    ],
    [['reproduce', '--preset', 'constructor'], /--preset must be one of/],
    [['reproduce', '--dataset', 'valueOf'], /--dataset must be one of/],
    [['train', 'classifier', '--arch', 'constructor'], /--arch must be one of/],
    [['latent', '--method', '__proto__'], /--method must be one of/],
    [['train', 'classifier', '--space', 'toString'], /--space must be one of/],
  ];
  for (const [args, problem] of cases) {
    it(args.join(' '), async () => {
      await refused(ws.dir, ws.dir, args, problem);
      countCase('prototype keys');
    });
  }
});

describe('required options and stray arguments', () => {
  const cases: [string[], RegExp][] = [
    [['train', 'classifier', '--arch', '2L'], /--dataset is required/],
    [['train', 'classifier', '--dataset', 'mnist'], /--arch is required/],
    [['train', 'vae'], /--dataset is required/],
    [['eval'], /--model is required/],
    [['attack'], /--model is required/],
    [['svd', '--mode', 'zero'], /--model is required/],
    [['latent', '--dataset', 'mnist'], /--method is required/],
    [['figure', 'accuracy'], /--dataset is required/],
    [['train', 'gan'], /unknown model kind 'gan'/],
    [['data', 'download'], /unknown data command 'download'/],
  ];
  for (const [args, problem] of cases) {
    it(args.join(' '), async () => {
      await refused(ws.dir, ws.dir, args, problem);
      countCase('required / structure');
    });
  }
});

describe('outputs that are not ours are refused before any work', () => {
  it('refuses --out that would replace or mix with something robustlab did not write', async () => {
    const notes = join(ws.dir, 'notes.txt');
    writeFileSync(notes, 'my notes\n');
    const foreign = join(ws.dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'thesis.tex'), '\\documentclass{article}\n');
    const fileParent = join(notes, 'model');
    const base = ['train', 'classifier', '--dataset', 'mnist', '--arch', '1L'];
    const cases: [string[], RegExp][] = [
      [
        [...base, '--out', 'notes.txt'],
        /--out 'notes.txt' is an existing file, not a directory; robustlab will not replace it/,
      ],
      [[...base, '--out', ''], /--out must be a non-empty path \(got ''\)/],
      [[...base, '--out', '.'], /--out '\.' is the current directory or one above it/],
      [[...base, '--out', '..'], /--out '\.\.' is the current directory or one above it/],
      [[...base, '--out', '/'], /is the current directory or one above it/],
      [
        [...base, '--out', 'foreign'],
        /--out 'foreign' is a non-empty directory that is not a robustlab classifier model/,
      ],
      [[...base, '--out', fileParent], /is a file, not a directory/],
      [['train', 'ae', '--dataset', 'mnist', '--out', 'notes.txt'], /is an existing file/],
      [['train', 'vae', '--dataset', 'mnist', '--out', 'foreign'], /not a robustlab vae model/],
      [['reproduce', '--out', 'notes.txt'], /is an existing file/],
      [['reproduce', '--out', 'foreign'], /not a robustlab reproduce run/],
      [['reproduce', '--out', '.'], /current directory/],
      [['svd', '--model', 'm', '--mode', 'zero', '--out', 'notes.txt'], /is an existing file/],
      [['svd', '--model', 'm', '--mode', 'zero', '--out', 'foreign'], /not a robustlab svd output/],
    ];
    for (const [args, problem] of cases) {
      await refused(ws.dir, ws.dir, args, problem);
      countCase('outputs');
    }
  });
});

describe('CLI conventions', () => {
  it('robustlab help <command> prints that command’s help', async () => {
    for (const c of [
      ['train'],
      ['train', 'ae'],
      ['eval'],
      ['attack'],
      ['svd'],
      ['reproduce'],
      ['latent'],
      ['figure'],
      ['data'],
      ['info'],
    ]) {
      const r = await cli(ws.dir, 'help', ...c);
      expect(r.code, c.join(' ')).toBe(0);
      expect(r.out).toMatch(new RegExp(`usage: robustlab ${c[0]}`));
    }
  });

  it('every option of every command is in its help text', async () => {
    for (const { prefix, schema } of COMMANDS) {
      const r = await cli(ws.dir, ...prefix, '--help');
      for (const name of Object.keys(schema))
        expect(r.out, `${prefix.join(' ')} --help lists --${name}`).toContain(`--${name}`);
    }
  });

  it('says "not found" once when a dataset is missing', async () => {
    const r = await cli(ws.dir, 'info', '--data-dir', join(ws.dir, 'nowhere'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/data: mnist dataset not found: looked in/);
    expect(r.out).not.toMatch(/not found: mnist dataset not found/);
  });
});
