/**
 * One process at a time in a run directory. The lock is a file `<run>/.lock` created with
 * O_EXCL (atomic on local file systems) holding the owner's pid, host and start time. A second
 * process is refused with a message naming the owner; a lock whose owner is no longer running
 * on this host (killed, crashed) is stale and taken over, with a note. The lock is released
 * when the run ends, and on process exit (Ctrl-C included).
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RobustlabError } from '../data/errors.js';
import { mkdirp } from '../util/atomic.js';

export const LOCK_FILE = '.lock';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command?: string;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8'));
    return Number.isInteger(j?.pid) && typeof j?.host === 'string' ? j : null;
  } catch {
    return null;
  }
}

export interface RunLock {
  path: string;
  release(): void;
}

export function acquireRunLock(
  dir: string,
  o: { log?: (line: string) => void; command?: string } = {},
): RunLock {
  mkdirp(dir);
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command: o.command ?? process.argv.slice(2).join(' '),
  };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readLock(path);
      const stale =
        owner === null
          ? attempt > 0 // unreadable: maybe being written right now; stale on the second look
          : owner.host === info.host && !isRunning(owner.pid);
      if (attempt < 3 && (stale || owner === null)) {
        if (stale) {
          o.log?.(
            `robustlab: removed a stale lock in ${dir}` +
              (owner ? ` (process ${owner.pid} from ${owner.startedAt} is no longer running)` : ''),
          );
          rmSync(path, { force: true });
        }
        continue;
      }
      throw new RobustlabError(
        owner
          ? `${dir} is in use by another robustlab process (pid ${owner.pid} on ${owner.host}, since ${owner.startedAt}); wait for it to finish or stop it, then run again`
          : `${dir} is locked (${path}); if no robustlab process is using it, remove that file`,
      );
    }
    try {
      writeSync(fd, JSON.stringify(info) + '\n');
    } finally {
      closeSync(fd);
    }
    break;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    // Only remove our own lock (a stale-lock takeover by another process replaced it).
    if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return { path, release };
}
