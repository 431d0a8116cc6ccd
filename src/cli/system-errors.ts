/**
 * System errors (EACCES, ENOSPC, ...) in words: "no space left on device while writing
 * runs/x/model.weights.bin", instead of "internal error: ENOSPC: ...".
 */
const WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'already exists',
  EBUSY: 'resource busy or locked',
  ENOENT: 'no such file or directory',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  ENOTEMPTY: 'directory not empty',
  EXDEV: 'cannot move across file systems',
  EIO: 'input/output error',
  EFBIG: 'file too large',
  ENXIO: 'no reader on the other end (a named pipe or device?)',
  EAGAIN: 'resource temporarily unavailable',
};

const VERBS: Record<string, string> = {
  open: 'opening',
  write: 'writing',
  read: 'reading',
  rename: 'moving into place',
  mkdir: 'creating the directory',
  rmdir: 'removing the directory',
  rm: 'removing',
  unlink: 'removing',
  scandir: 'listing',
  opendir: 'listing',
  stat: 'checking',
  lstat: 'checking',
  fstat: 'checking',
  copyfile: 'copying',
  cp: 'copying',
  fsync: 'writing',
  close: 'closing',
  access: 'checking',
  symlink: 'linking',
  link: 'linking',
  utime: 'touching',
  chmod: 'changing permissions of',
};

/** One line in words for a Node system error, or undefined if `e` is not one. */
export function describeSystemError(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (!err || typeof err !== 'object' || typeof err.code !== 'string') return undefined;
  const words = WORDS[err.code];
  if (!words || typeof err.syscall !== 'string') return undefined;
  const verb = VERBS[err.syscall] ?? err.syscall;
  const where = err.dest && err.code !== 'ENOENT' ? err.dest : err.path;
  return `${words} while ${verb}${where ? ' ' + where : ''}`;
}
