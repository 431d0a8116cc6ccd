/**
 * The option parser of every robustlab command: one typed schema per command, every value
 * checked against a documented range, and one-line RobustlabErrors that name the option, the
 * value given and what is allowed:
 *
 *   --epochs must be an integer in 1..10000 (got '0x2')
 *   unknown option --epoch for 'train classifier' (did you mean --epochs?)
 *   --dataset given twice ('mnist', then 'fashion-mnist'); give it once
 *
 * Kinds: int, number, string, path, choice, numbers (a comma list or a bounded start:step:end
 * range) and flag (boolean). `--name value` and `--name=value` both work; a value may start
 * with '-' (`--n -1` gets a range message, not "ambiguous"), except that a known option name
 * is never taken as the previous option's value.
 */
import { RobustlabError } from '../data/errors.js';

/** What a parsed option looks like; build one with int(), num(), str(), ... below. */
export interface OptSpec<T = unknown, D extends boolean = boolean, M extends boolean = boolean> {
  kind: 'int' | 'number' | 'string' | 'path' | 'choice' | 'numbers' | 'flag';
  /** What is allowed, in words ("an integer in 1..10000"); used in messages and docs. */
  allowed: string;
  /** Placeholder in help and docs (N, DIR, ...). */
  metavar: string;
  /** One-line description, for docs/cli-inputs.md. */
  help?: string;
  short?: string;
  /** May be given more than once (values collected in order). */
  multiple: M;
  hasDefault: D;
  default?: T;
  parse(raw: string, flag: string): T;
}

export type Schema = Record<string, OptSpec<any, boolean, boolean>>;

type ValueOf<S> =
  S extends OptSpec<infer T, infer D, infer M>
    ? M extends true
      ? T[]
      : D extends true
        ? T
        : T | undefined
    : never;

export type Values<S extends Schema> = { [K in keyof S]: ValueOf<S[K]> };

interface Common<T> {
  help?: string;
  short?: string;
  default?: T;
  metavar?: string;
}

type HasDefault<O> = O extends { default: unknown } ? true : false;

/** Show a user-given value in a message: quoted, one line, not too long. */
export function shown(raw: string): string {
  const s = JSON.stringify(raw).slice(1, -1).replaceAll("\\'", "'");
  return `'${s.length > 60 ? s.slice(0, 57) + '...' : s}'`;
}

export function badValue(flag: string, allowed: string, raw: string): RobustlabError {
  return new RobustlabError(`${flag} must be ${allowed} (got ${shown(raw)})`);
}

function make<T, O extends Common<T>>(
  kind: OptSpec['kind'],
  allowed: string,
  metavar: string,
  o: O,
  parse: (raw: string, flag: string) => T,
  multiple = false,
): OptSpec<T, HasDefault<O>, false> {
  return {
    kind,
    allowed,
    metavar: o.metavar ?? metavar,
    help: o.help,
    short: o.short,
    multiple: multiple as false,
    hasDefault: ('default' in o && o.default !== undefined) as HasDefault<O>,
    default: o.default,
    parse,
  };
}

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Strict integer: decimal digits only (no 0x, 1e3, '', ' 3'), within [min, max]. */
export function parseIntIn(raw: string, flag: string, min: number, max: number): number {
  const n = INT_RE.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw badValue(flag, `an integer in ${min}..${max}`, raw);
  return n;
}

function numAllowed(min: number, max: number, minExclusive: boolean): string {
  return `a number in ${minExclusive ? '(' : '['}${min}, ${max}]`;
}

/** Strict decimal number (no hex, Infinity, NaN, ''), finite and within the range. */
export function parseNumIn(
  raw: string,
  flag: string,
  min: number,
  max: number,
  minExclusive = false,
): number {
  const n = NUM_RE.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n < min || n > max || (minExclusive && n === min))
    throw badValue(flag, numAllowed(min, max, minExclusive), raw);
  return n;
}

export function int<O extends Common<number> & { min: number; max: number }>(o: O) {
  return make('int', `an integer in ${o.min}..${o.max}`, 'N', o, (raw, flag) =>
    parseIntIn(raw, flag, o.min, o.max),
  );
}

export function num<
  O extends Common<number> & { min: number; max: number; minExclusive?: boolean },
>(o: O) {
  return make('number', numAllowed(o.min, o.max, !!o.minExclusive), 'X', o, (raw, flag) =>
    parseNumIn(raw, flag, o.min, o.max, o.minExclusive),
  );
}

function parseStr(raw: string, flag: string): string {
  if (raw === '' || /[\0-\x1f]/.test(raw)) throw badValue(flag, 'a non-empty string', raw);
  return raw;
}

/** A non-empty string without control characters. */
export function str<O extends Common<string>>(o: O = {} as O) {
  return make<string, O>('string', 'a non-empty string', 'S', o, parseStr);
}

/** A string option that may be repeated; its value is the list given (empty if none). */
export function strs(o: Omit<Common<string>, 'default'> = {}): OptSpec<string, false, true> {
  return {
    ...make<string, object>('string', 'a non-empty string', 'S', o, parseStr),
    multiple: true,
  };
}

/** A file or directory path: non-empty, no NUL or newline (what it must be is checked on use). */
export function path<O extends Common<string>>(o: O = {} as O) {
  return make('path', 'a non-empty path', 'DIR', o, (raw, flag) => {
    if (raw.trim() === '' || /[\0\n\r]/.test(raw)) throw badValue(flag, 'a non-empty path', raw);
    return raw;
  });
}

/** One of a fixed list of names (compared as given; never a prototype key). */
export function choice<C extends string, O extends Common<C> & { ignoreCase?: boolean }>(
  choices: readonly C[],
  o: O = {} as O,
) {
  const allowed = `one of: ${choices.join(', ')}`;
  return make('choice', allowed, choices.join('|'), o, (raw, flag) => {
    const hit = o.ignoreCase
      ? choices.find((c) => c.toLowerCase() === raw.toLowerCase())
      : choices.find((c) => c === raw);
    if (hit === undefined) throw badValue(flag, allowed, raw);
    return hit;
  });
}

/**
 * Numbers in [min, max]: a comma list (`0,0.5,0.9`) or, with `ranges`, `start:step:end`
 * (end included). At most `maxLength` of them: the length of a range is computed before
 * anything is allocated, so `0:1e-9:1` is refused, not a crash.
 */
export function numbers<
  O extends Common<number[]> & { min: number; max: number; maxLength: number; ranges?: boolean },
>(o: O) {
  const each = `numbers in [${o.min}, ${o.max}]`;
  const allowed = o.ranges
    ? `a comma list of ${each} or start:step:end (at most ${o.maxLength} values)`
    : `a comma list of ${each} (at most ${o.maxLength})`;
  return make('numbers', allowed, o.ranges ? 'A:STEP:B|X,Y,...' : 'X,Y,...', o, (raw, flag) => {
    const fail = () => badValue(flag, allowed, raw);
    const num = (s: string) => {
      const n = NUM_RE.test(s) ? Number(s) : NaN;
      if (!Number.isFinite(n) || n < o.min || n > o.max) throw fail();
      return n;
    };
    if (o.ranges && raw.includes(':')) {
      const parts = raw.split(':');
      if (parts.length !== 3) throw fail();
      const [a, step, b] = parts.map(num);
      if (!(step > 0) || !(a <= b)) throw fail();
      const count = Math.floor((b - a) / step + 1e-9) + 1;
      if (!(count <= o.maxLength)) throw fail();
      return Array.from({ length: count }, (_, k) => Math.round((a + k * step) * 1e6) / 1e6);
    }
    const list = raw.split(',').map((s) => s.trim());
    if (list.length > o.maxLength || list.some((s) => s === '')) throw fail();
    return list.map(num);
  });
}

/** A boolean switch: present or not, takes no value. */
export function flag(o: Omit<Common<boolean>, 'default'> = {}): OptSpec<boolean, true, false> {
  const spec = make<boolean, object>('flag', 'given without a value', '', o, (raw, f) => {
    throw new RobustlabError(`${f} takes no value (got ${shown(raw)})`);
  });
  return { ...spec, hasDefault: true, default: false };
}

/** Options every command takes. */
export const COMMON = {
  help: flag({ short: 'h', help: 'print the help text and exit' }),
  json: flag({ help: 'one machine-readable result on stdout (progress stays on stderr)' }),
  quiet: flag({ short: 'q', help: 'no progress output' }),
} as const satisfies Schema;

export const BACKEND_OPTION = {
  backend: choice(['wasm', 'cpu', 'tensorflow'] as const, {
    help: 'tensor backend (default wasm)',
  }),
} as const satisfies Schema;

export const DATA_OPTION = {
  'data-dir': path({
    help: 'where the IDX files are (else $ROBUSTLAB_DATA, else ~/.cache/robustlab/datasets)',
  }),
} as const satisfies Schema;

/** Largest training / test split (MNIST and Fashion-MNIST). */
export const MAX_TRAIN = 60000;
export const MAX_TEST = 10000;
export const MAX_SEED = 4294967295;

/** --limit-train / --limit-test: use only the first N examples of a split (quick runs). */
export const LIMITS = {
  'limit-train': int({ min: 1, max: MAX_TRAIN, help: 'use the first N training examples only' }),
  'limit-test': int({ min: 1, max: MAX_TEST, help: 'use the first N test examples only' }),
} as const satisfies Schema;

export const SEED_OPTION = {
  seed: int({ min: 0, max: MAX_SEED, default: 0, help: 'random seed (default 0)' }),
} as const satisfies Schema;

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...new Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return d[a.length][b.length];
}

/** The closest of `names` to `given`, if it is close enough to be a likely typo. */
export function closest(given: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = n.startsWith(given) || given.startsWith(n) ? 0.5 : distance(given, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return bestD <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

export interface ParseSettings {
  /** The command's name for messages ('train classifier'). */
  command: string;
  /** How many positional arguments are allowed (default 0). */
  positionals?: number;
}

/**
 * Parse argv against a schema (COMMON is always added). Returns every option's value (the
 * default or undefined when absent; an array for `multiple` options) and the positionals.
 */
export function parseOptions<S extends Schema>(
  argv: readonly string[],
  schema: S,
  settings: ParseSettings,
): { values: Values<S & typeof COMMON>; positionals: string[]; given: Set<string> } {
  const full: Schema = { ...COMMON, ...schema };
  const names = Object.keys(full);
  const shorts = new Map<string, string>();
  for (const n of names) if (full[n].short) shorts.set(full[n].short!, n);
  const raw = new Map<string, string[]>();
  const positionals: string[] = [];
  const isOptionName = (t: string) =>
    (t.startsWith('--') && Object.hasOwn(full, t.slice(2).split('=')[0])) ||
    (/^-[a-zA-Z]$/.test(t) && shorts.has(t.slice(1)));
  const help = `see robustlab ${settings.command} --help`;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (onlyPositionals || !tok.startsWith('-') || tok === '-') {
      positionals.push(tok);
      continue;
    }
    if (tok === '--') {
      onlyPositionals = true;
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      value = eq < 0 ? undefined : tok.slice(eq + 1);
    } else {
      const s = tok.slice(1);
      const long = shorts.get(s);
      if (!long) {
        if (/^\d/.test(s)) throw new RobustlabError(`unexpected argument ${shown(tok)} (${help})`);
        throw new RobustlabError(
          `unknown option ${shown(tok)} for '${settings.command}' (${help})`,
        );
      }
      name = long;
    }
    if (!Object.hasOwn(full, name)) {
      const guess = closest(name, names);
      throw new RobustlabError(
        `unknown option --${name} for '${settings.command}'` +
          (guess ? ` (did you mean --${guess}?)` : ` (${help})`),
      );
    }
    const spec = full[name];
    const flagName = `--${name}`;
    if (spec.kind === 'flag') {
      if (value !== undefined) spec.parse(value, flagName);
      value = '';
    } else if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || isOptionName(next) || next === '--')
        throw new RobustlabError(`${flagName} needs a value: ${spec.allowed}`);
      value = next;
      i++;
    }
    const seen = raw.get(name);
    if (seen && !spec.multiple) {
      if (spec.kind === 'flag') throw new RobustlabError(`${flagName} given twice; give it once`);
      throw new RobustlabError(
        `${flagName} given twice (${shown(seen[0])}, then ${shown(value)}); give it once`,
      );
    }
    raw.set(name, [...(seen ?? []), value]);
  }
  const max = settings.positionals ?? 0;
  if (positionals.length > max)
    throw new RobustlabError(
      `unexpected argument ${shown(positionals[max])} for '${settings.command}' (${help})`,
    );
  const values: Record<string, unknown> = {};
  for (const n of names) {
    const spec = full[n];
    const given = raw.get(n);
    if (spec.kind === 'flag') values[n] = given !== undefined;
    else if (spec.multiple) values[n] = (given ?? []).map((r) => spec.parse(r, `--${n}`));
    else values[n] = given !== undefined ? spec.parse(given[0], `--${n}`) : spec.default;
  }
  return {
    values: values as Values<S & typeof COMMON>,
    positionals,
    given: new Set(raw.keys()),
  };
}

/** Refuse options that do not apply (`--factor` with `--mode zero`, ...). */
export function refuseInapplicable(
  given: Set<string>,
  names: readonly string[],
  why: string,
): void {
  for (const n of names) if (given.has(n)) throw new RobustlabError(`--${n} does not apply ${why}`);
}

export function required<T>(name: string, v: T | undefined): T {
  if (v === undefined) throw new RobustlabError(`--${name} is required (see --help)`);
  return v;
}

/** Look up a user-given name in a table: own properties only (never __proto__, constructor). */
export function lookup<T>(table: Readonly<Record<string, T>>, name: string, what: string): T {
  if (Object.hasOwn(table, name)) return table[name];
  const guess = closest(name, Object.keys(table));
  throw new RobustlabError(
    `unknown ${what} ${shown(name)} (expected one of: ${Object.keys(table).join(', ')}` +
      (guess ? `; did you mean ${guess}?` : '') +
      ')',
  );
}

/** Print the command's result: JSON on stdout with --json, else the human text. */
export function output(json: boolean | undefined, value: unknown, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else process.stdout.write(human() + '\n');
}

/** Print the help text when --help was given; returns whether it was. */
export function helpRequested(v: { help?: boolean }, help: string): boolean {
  if (v.help) process.stdout.write(help + '\n');
  return !!v.help;
}

export function limits(v: { 'limit-train'?: number | string; 'limit-test'?: number | string }): {
  limitTrain?: number;
  limitTest?: number;
} {
  const one = (name: string, x: number | string | undefined, max: number) =>
    x === undefined ? undefined : typeof x === 'number' ? x : parseIntIn(x, `--${name}`, 1, max);
  return {
    limitTrain: one('limit-train', v['limit-train'], MAX_TRAIN),
    limitTest: one('limit-test', v['limit-test'], MAX_TEST),
  };
}

// ---------------------------------------------------------------------------------------------
// The earlier string-based helpers, kept for commands written against them. `parse` goes
// through the same tokeniser (repeats refused, unknown names get a suggestion, `--n -1` gets a
// range message); the *Opt helpers parse strictly and always have an upper bound.

/** Old-style option table: `{ name: { type: 'string' | 'boolean', multiple?, short? } }`. */
export type OptionSpec = Record<
  string,
  { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
>;

export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  backend: { type: 'string' },
  'data-dir': { type: 'string' },
} as const satisfies OptionSpec;

export const LIMIT_OPTIONS = {
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
} as const satisfies OptionSpec;

type OldValues<T extends OptionSpec> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean'
    ? boolean
    : T[K]['multiple'] extends true
      ? string[]
      : string;
};

export function parse<T extends OptionSpec>(
  argv: string[],
  options: T,
  positionals = false,
  command = 'this command',
): { values: OldValues<T & typeof COMMON_OPTIONS>; positionals: string[] } {
  const all: OptionSpec = { ...COMMON_OPTIONS, ...options };
  const schema: Schema = {};
  for (const [k, o] of Object.entries(all)) {
    schema[k] =
      o.type === 'boolean'
        ? flag({ short: o.short })
        : o.multiple
          ? strs({ short: o.short })
          : { ...str({ short: o.short }), kind: k === 'data-dir' ? 'path' : 'string' };
  }
  const r = parseOptions(argv, schema, { command, positionals: positionals ? Infinity : 0 });
  const values: Record<string, unknown> = {};
  for (const k of r.given) values[k] = (r.values as Record<string, unknown>)[k];
  return { values: values as OldValues<T & typeof COMMON_OPTIONS>, positionals: r.positionals };
}

export function intOpt(
  name: string,
  v: string | undefined,
  def: number,
  min = 0,
  max = MAX_SEED,
): number {
  return v === undefined ? def : parseIntIn(v, `--${name}`, min, max);
}

export function numOpt(
  name: string,
  v: string | undefined,
  def: number,
  min = -1e9,
  max = 1e9,
): number {
  return v === undefined ? def : parseNumIn(v, `--${name}`, min, max);
}

export function choiceOpt<C extends string>(
  name: string,
  v: string | undefined,
  choices: readonly C[],
  def: C,
): C {
  return v === undefined ? def : choice(choices).parse(v, `--${name}`);
}

export function requireOpt(name: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new RobustlabError(`--${name} is required (see --help)`);
  return v;
}
