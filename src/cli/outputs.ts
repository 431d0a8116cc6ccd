/**
 * Where a command may write (Node only). A command never deletes or replaces something it did
 * not create: an output directory must be new, empty, or something robustlab wrote before of
 * the same kind (a model of the same kind, a previous attack output, a reproduce run), and
 * then the replacement is said on stderr. Anything else is refused before any work starts.
 */
import { lstatSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { RobustlabError } from '../data/errors.js';
import { shown } from './args.js';

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Refuse '.', '..', '/', the home directory and any ancestor of the working directory. */
function refuseSpecialDir(out: string, flag: string): void {
  const abs = resolve(out);
  const rel = relative(abs, process.cwd());
  if (rel === '' || !rel.startsWith('..') || abs === dirname(abs))
    throw new RobustlabError(
      `${flag} ${shown(out)} is the current directory or one above it; name a new directory`,
    );
}

/** Check the parent chain: a file where a directory must be is refused now, not mid-run. */
function refuseFileInPath(out: string, flag: string): void {
  for (let p = dirname(resolve(out)); p !== dirname(p); p = dirname(p)) {
    const st = lstatOrNull(p);
    if (st && !st.isDirectory() && !st.isSymbolicLink())
      throw new RobustlabError(`${flag} ${shown(out)}: ${p} is a file, not a directory`);
  }
}

interface OutDirCheck {
  flag?: string;
  /** What the directory is for, in messages ("model", "attack output"). */
  what: string;
  /** Does this existing non-empty directory hold a previous output of the same kind? */
  isOurs(dir: string, entries: string[]): { ours: boolean; why?: string; replaces?: boolean };
  log?: (line: string) => void;
}

/**
 * Check an output directory before any work: returns the path unchanged. An existing
 * directory is accepted when empty or when `isOurs` says it holds a previous output.
 */
export function checkOutDir(out: string, c: OutDirCheck): string {
  const flag = c.flag ?? '--out';
  if (out.trim() === '') throw new RobustlabError(`${flag} must be a non-empty path (got '')`);
  refuseSpecialDir(out, flag);
  refuseFileInPath(out, flag);
  const st = lstatOrNull(out);
  if (!st) return out;
  if (st.isSymbolicLink())
    throw new RobustlabError(`${flag} ${shown(out)} is a symbolic link; name the directory itself`);
  if (!st.isDirectory())
    throw new RobustlabError(
      `${flag} ${shown(out)} is an existing file, not a directory; robustlab will not replace it (choose another path)`,
    );
  const entries = readdirSync(out);
  if (!entries.length) return out;
  const r = c.isOurs(out, entries);
  if (!r.ours)
    throw new RobustlabError(
      `${flag} ${shown(out)} is a non-empty directory that is not ${r.why ?? `a robustlab ${c.what}`}; robustlab will not replace it (choose another path)`,
    );
  if (r.replaces !== false) c.log?.(`robustlab: replacing the previous ${c.what} in ${out}`);
  return out;
}

function readJsonOrNull(p: string): unknown {
  try {
    if (!statSync(p).isFile()) return null;
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
}

/** A model directory's own files: robustlab.json and <part>.json / <part>.weights.bin. */
export function modelDirIsOurs(kind: string) {
  return (dir: string, entries: string[]): { ours: boolean; why?: string } => {
    const meta = readJsonOrNull(join(dir, 'robustlab.json')) as {
      kind?: unknown;
      parts?: unknown;
    } | null;
    if (!meta || typeof meta.kind !== 'string' || !Array.isArray(meta.parts))
      return { ours: false, why: `a robustlab ${kind} model` };
    if (meta.kind !== kind)
      return { ours: false, why: `a ${kind} model (it holds a ${meta.kind} model)` };
    const own = new Set(['robustlab.json']);
    for (const p of meta.parts) {
      if (typeof p !== 'string') return { ours: false, why: `a robustlab ${kind} model` };
      own.add(`${p}.json`).add(`${p}.weights.bin`);
    }
    const extra = entries.filter((e) => !own.has(e));
    if (extra.length)
      return {
        ours: false,
        why: `only a ${kind} model (it also holds ${shown(extra[0])})`,
      };
    return { ours: true };
  };
}

export function checkModelOut(
  out: string,
  kind: string,
  o: { flag?: string; log?: (line: string) => void } = {},
): string {
  return checkOutDir(out, { ...o, what: `${kind} model`, isOurs: modelDirIsOurs(kind) });
}

/**
 * An output directory where a command writes the named files: new, empty, or holding a
 * previous output of ours (at least one of the files, each one robustlab wrote). Other files
 * in it are left alone.
 */
export function checkFilesOut(
  out: string,
  files: string[],
  what: string,
  isOurFile: (path: string) => boolean,
  o: { flag?: string; log?: (line: string) => void } = {},
): string {
  return checkOutDir(out, {
    ...o,
    what,
    isOurs: (dir) => {
      let replaces = false;
      for (const f of files) {
        const p = join(dir, f);
        if (!lstatOrNull(p)) continue;
        if (!isOurFile(p))
          return {
            ours: false,
            why: `a robustlab ${what} (${basename(p)} is not one robustlab wrote)`,
          };
        replaces = true;
      }
      return replaces ? { ours: true } : { ours: false, why: `a robustlab ${what}` };
    },
  });
}

export { readJsonOrNull };

/** Does the file start with this magic string (a robustlab binary format)? */
export function hasMagic(p: string, magic: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    return readFileSync(p).subarray(0, magic.length).toString('latin1') === magic;
  } catch {
    return false;
  }
}
