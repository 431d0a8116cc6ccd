/**
 * Atomic file output (Node only): write to a temp file in the same directory, fsync, rename.
 * A reader therefore sees either the old file or the complete new one, never a partial one.
 */
import {
  mkdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
  existsSync,
} from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { threadId } from 'node:worker_threads';

/**
 * mkdir -p, one level at a time. Node 20's `mkdirSync(p, { recursive: true })` never returns
 * when the parent refuses new entries with ENOENT (e.g. under /proc): here that is an error.
 */
export function mkdirp(dir: string): void {
  const missing: string[] = [];
  for (let p = dir; !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

let counter = 0;
function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${threadId}-${counter++}`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirp(dirname(path));
  const tmp = tmpName(path);
  const fd = openSync(tmp, 'wx');
  try {
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // Nothing half-written stays behind (a full disk, a directory where the file belongs...).
    rmSync(tmp, { force: true });
    throw namePath(e, path, tmp);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Build a directory atomically: `fill` writes into a temp directory which is then renamed to
 * `dir` (replacing an existing one). A crash leaves only a `.tmp-` directory, never a
 * half-written `dir`.
 */
export function writeDirAtomic(dir: string, fill: (tmpDir: string) => void): void {
  mkdirp(dirname(dir));
  const tmp = tmpName(dir);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    fill(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw namePath(e, dir, tmp);
  }
  try {
    if (existsSync(dir)) {
      const old = tmpName(dir);
      renameSync(dir, old);
      try {
        renameSync(tmp, dir);
      } catch (e) {
        renameSync(old, dir); // put the previous one back
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dir);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw namePath(e, dir, tmp);
  }
}

/** A system error about our temp file or directory is reported as about the real target. */
function namePath(e: unknown, target: string, tmp: string): unknown {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    if (!err.path || err.path.startsWith(tmp)) err.path = target;
    if (err.dest?.startsWith(tmp)) err.dest = target;
  }
  return e;
}
