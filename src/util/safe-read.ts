/**
 * Reading files named by the user or by another file (Node only), safely:
 *   - anything that is not a regular file (a FIFO, a device, a directory) is refused before it
 *     is opened, so a named pipe where a weights file belongs cannot make a command wait forever;
 *   - a path taken from inside a file (a part name, a manifest entry) must resolve inside the
 *     directory it belongs to, symbolic links included.
 */
import { readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { RobustlabError } from '../data/errors.js';

/** What kind of thing is at `p`, in words, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Throw unless `p` exists and is a regular file (after following symbolic links). */
export function requireRegularFile(p: string, what = 'file'): void {
  let st: Stats;
  try {
    st = statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RobustlabError(`${p}: ${what} missing`);
    throw e;
  }
  if (!st.isFile())
    throw new RobustlabError(`${p}: is ${kindOf(st)}, not a regular file (expected a ${what})`);
}

export function readRegularFile(p: string, what?: string): Buffer;
export function readRegularFile(p: string, what: string, encoding: 'utf8'): string;
export function readRegularFile(p: string, what = 'file', encoding?: 'utf8'): Buffer | string {
  requireRegularFile(p, what);
  return encoding ? readFileSync(p, encoding) : readFileSync(p);
}

/** Is `child` (resolved) inside `dir`, or `dir` itself? Pure path arithmetic. */
export function isInside(dir: string, child: string): boolean {
  const rel = relative(resolve(dir), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Resolve a name taken from a file against its directory and refuse anything that lands
 * outside it, lexically or through a symbolic link.
 */
export function resolveInside(dir: string, name: string, source: string): string {
  const p = resolve(dir, name);
  if (name.includes('\0') || !isInside(dir, p))
    throw new RobustlabError(`${source}: path '${name}' points outside ${dir}; refused`);
  let real: string | undefined;
  try {
    real = realpathSync(p);
  } catch {
    return p; // missing: the caller reports it
  }
  if (!isInside(realpathSync(dir), real))
    throw new RobustlabError(
      `${source}: path '${name}' leads outside ${dir} (symbolic link); refused`,
    );
  return p;
}
