/** The option parser: typed, ranged values and one-line messages that name option and value. */
import { describe, expect, it } from 'vitest';
import { RobustlabError } from '../data/errors.js';
import {
  choice,
  closest,
  flag,
  int,
  intOpt,
  lookup,
  num,
  numbers,
  parse,
  parseOptions,
  path,
  strs,
} from './args.js';

const S = {
  epochs: int({ min: 1, max: 10000, default: 5 }),
  seed: int({ min: 0, max: 4294967295 }),
  lr: num({ min: 0, max: 10, minExclusive: true }),
  dataset: choice(['mnist', 'fashion-mnist'] as const),
  out: path(),
  fractions: numbers({ min: 0, max: 1, maxLength: 1001, ranges: true }),
  force: strs(),
  dry: flag(),
};
const p = (...argv: string[]) => parseOptions(argv, S, { command: 'test' }).values;
const err = (...argv: string[]) => {
  try {
    p(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(RobustlabError);
    return (e as Error).message;
  }
  throw new Error('accepted: ' + argv.join(' '));
};

describe('parseOptions', () => {
  it('parses typed values with defaults', () => {
    const v = p('--epochs', '3', '--seed=7', '--lr', '1e-3', '--dataset', 'mnist', '--dry');
    expect(v).toMatchObject({ epochs: 3, seed: 7, lr: 0.001, dataset: 'mnist', dry: true });
    expect(p().epochs).toBe(5);
    expect(p().seed).toBeUndefined();
    expect(p().force).toEqual([]);
    expect(p('--force', 'a', '--force', 'b').force).toEqual(['a', 'b']);
  });

  it('refuses integers that are not decimal integers in range', () => {
    for (const bad of ['0', '', '0x2', '1e300', '2.5', ' 3', 'NaN', '-1', '10001'])
      expect(err('--epochs', bad)).toBe(`--epochs must be an integer in 1..10000 (got '${bad}')`);
    expect(err('--seed', '4294967296')).toMatch(/--seed must be an integer in 0\.\.4294967295/);
    expect(err('--seed', '1e300')).toMatch(/--seed must be an integer/);
  });

  it('refuses numbers out of range, non-finite or written oddly', () => {
    for (const bad of ['0', '', '1e38', 'Infinity', '0x1', 'abc'])
      expect(err('--lr', bad)).toMatch(/^--lr must be a number in \(0, 10\] \(got '/);
  });

  it('bounds lists and ranges before allocating them', () => {
    expect(p('--fractions', '0:0.25:1').fractions).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(p('--fractions', '0,0.5').fractions).toEqual([0, 0.5]);
    for (const bad of ['', '0.5,,0.9', '0:1e-9:1', '0:0:1', '1:0.1:0', '0:0.1', '0,2', 'a'])
      expect(err('--fractions', bad)).toMatch(
        /^--fractions must be a comma list of numbers in \[0, 1\]/,
      );
  });

  it('refuses repeats, unknown names (with a suggestion), missing values, stray arguments', () => {
    expect(err('--dataset', 'mnist', '--dataset', 'fashion-mnist')).toBe(
      "--dataset given twice ('mnist', then 'fashion-mnist'); give it once",
    );
    expect(err('--dry', '--dry')).toMatch(/--dry given twice/);
    expect(err('--epoch', '3')).toBe("unknown option --epoch for 'test' (did you mean --epochs?)");
    expect(err('--zzzzzz')).toMatch(
      /unknown option --zzzzzz for 'test' \(see robustlab test --help\)/,
    );
    expect(err('--out')).toMatch(/^--out needs a value/);
    expect(err('--out', '--dry')).toMatch(/^--out needs a value/);
    expect(err('--out', '')).toMatch(/^--out must be a non-empty path/);
    expect(err('stray')).toMatch(/unexpected argument 'stray'/);
    expect(err('--dry=yes')).toMatch(/--dry takes no value/);
    expect(err('--dataset', '__proto__')).toMatch(/--dataset must be one of/);
    expect(err('--dataset', 'constructor')).toMatch(/--dataset must be one of/);
  });

  it('takes a negative number as a value, and then gives the range', () => {
    expect(err('--epochs', '-1')).toBe("--epochs must be an integer in 1..10000 (got '-1')");
  });

  it('shows control characters and long values on one line', () => {
    expect(err('--epochs', 'a\nb')).toBe("--epochs must be an integer in 1..10000 (got 'a\\nb')");
    expect(err('--epochs', 'x'.repeat(200)).length).toBeLessThan(140);
  });
});

describe('helpers', () => {
  it('suggests only close names', () => {
    expect(closest('epoch', ['epochs', 'seed'])).toBe('epochs');
    expect(closest('datset', ['dataset', 'data-dir'])).toBe('dataset');
    expect(closest('xyzzy', ['epochs', 'seed'])).toBeUndefined();
  });

  it('looks names up as own properties only', () => {
    const table = { quick: 1, paper: 2 };
    expect(lookup(table, 'quick', 'preset')).toBe(1);
    for (const k of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'])
      expect(() => lookup(table, k, 'preset')).toThrow(/unknown preset/);
  });

  it('keeps the old string helpers strict', () => {
    expect(intOpt('n', '4', 1, 1)).toBe(4);
    expect(() => intOpt('n', '0x4', 1, 1)).toThrow(/--n must be an integer/);
    const r = parse(['--model', 'm', '--json'], { model: { type: 'string' } });
    expect(r.values).toEqual({ model: 'm', json: true });
    expect(() => parse(['--model', 'a', '--model', 'b'], { model: { type: 'string' } })).toThrow(
      /given twice/,
    );
  });
});
