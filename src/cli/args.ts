/**
 * Small, strict option parsing on top of node:util parseArgs: unknown flags, missing values,
 * NaN or out-of-range numbers all become one-line RobustlabErrors.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RobustlabError } from '../data/errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  backend: { type: 'string' },
  'data-dir': { type: 'string' },
} as const satisfies OptionSpec;

type Values<T extends OptionSpec> = {
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
): { values: Values<T & typeof COMMON_OPTIONS>; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: positionals,
      strict: true,
    });
    return r as unknown as { values: Values<T & typeof COMMON_OPTIONS>; positionals: string[] };
  } catch (e) {
    throw new RobustlabError((e as Error).message.split('\n')[0]);
  }
}

export function intOpt(name: string, v: string | undefined, def: number, min = 0): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new RobustlabError(`--${name} must be an integer ≥ ${min} (got '${v}')`);
  return n;
}

export function numOpt(
  name: string,
  v: string | undefined,
  def: number,
  min = -Infinity,
  max = Infinity,
): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new RobustlabError(`--${name} must be a number in [${min}, ${max}] (got '${v}')`);
  }
  return n;
}

export function choiceOpt<C extends string>(
  name: string,
  v: string | undefined,
  choices: readonly C[],
  def: C,
): C {
  if (v === undefined) return def;
  if ((choices as readonly string[]).includes(v)) return v as C;
  throw new RobustlabError(`--${name} must be one of: ${choices.join(', ')} (got '${v}')`);
}

export function requireOpt(name: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new RobustlabError(`--${name} is required (see --help)`);
  return v;
}

/** Print the command's result: JSON on stdout with --json, else the human text. */
export function output(json: boolean | undefined, value: unknown, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else process.stdout.write(human() + '\n');
}

/** --limit-train / --limit-test: use only the first N examples of a split (quick runs). */
export const LIMIT_OPTIONS = {
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
} as const satisfies OptionSpec;

export function limits(v: { 'limit-train'?: string; 'limit-test'?: string }): {
  limitTrain?: number;
  limitTest?: number;
} {
  return {
    limitTrain:
      v['limit-train'] === undefined ? undefined : intOpt('limit-train', v['limit-train'], 0, 1),
    limitTest:
      v['limit-test'] === undefined ? undefined : intOpt('limit-test', v['limit-test'], 0, 1),
  };
}

/** Print the help text when --help was given; returns whether it was. */
export function helpRequested(v: { help?: boolean }, help: string): boolean {
  if (v.help) process.stdout.write(help + '\n');
  return !!v.help;
}
