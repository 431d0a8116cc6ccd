// Node-only dataset I/O: finding, loading, verifying and downloading the IDX files.
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdirp } from '../util/atomic.js';
import { open, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  DATASET_NAMES,
  DATASETS,
  IMAGE_DIM,
  datasetFiles,
  type Dataset,
  type DatasetFile,
  type DatasetName,
  type Split,
  type SplitName,
} from './datasets.js';
import { RobustlabError } from './errors.js';
import {
  IMAGE_SIDE,
  NUM_CLASSES,
  imagesToFloat,
  parseIdx,
  validatePair,
  type IdxArray,
  type IdxKind,
} from './idx.js';

const gunzipAsync = promisify(gunzip);

/** Largest file is 47 MB unpacked; the cap stops a bogus file from eating all memory. */
const MAX_UNPACKED_BYTES = 128 * 1024 * 1024;
/** A download that sends nothing for this long is abandoned rather than hanging forever. */
const STALL_TIMEOUT_MS = 60_000;

const errMessage = (e: unknown): string => {
  const err = e as { message?: string; cause?: { message?: string } };
  // Node's fetch hides the useful part ("connect ECONNREFUSED ...") in `cause`.
  return [err?.message ?? String(e), err?.cause?.message].filter(Boolean).join(': ');
};

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Gunzips if the bytes start with the gzip magic (1f 8b), else returns them unchanged. */
export async function decompress(bytes: Uint8Array, fileName: string): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return await gunzipAsync(bytes, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (e) {
    const hint = /unexpected end of file/i.test(errMessage(e)) ? ' (file truncated?)' : '';
    throw new RobustlabError(`${fileName}: corrupt gzip data: ${errMessage(e)}${hint}`, {
      cause: e,
    });
  }
}

/** Reads one IDX file, gzip'd or not, and parses it strictly. */
export async function readIdxFile(filePath: string, kind?: IdxKind): Promise<IdxArray> {
  let bytes: Uint8Array;
  if (!isFile(filePath))
    throw new RobustlabError(`${filePath}: missing or not a regular file (a FIFO or directory?)`);
  try {
    bytes = await readFile(filePath);
  } catch (e) {
    throw new RobustlabError(`${filePath}: cannot read: ${errMessage(e)}`, { cause: e });
  }
  return parseIdx(await decompress(bytes, filePath), filePath, kind);
}

/** The published `.gz`, or else an already-unpacked copy under the name without `.gz`. */
function findFile(dir: string, gzName: string): string | undefined {
  return [gzName, gzName.replace(/\.gz$/, '')].map((f) => path.join(dir, f)).find(isFile);
}

function hasAnyFile(dir: string, name: DatasetName): boolean {
  return datasetFiles(name).some((f) => findFile(dir, f.file) !== undefined);
}

/** `~/.cache/robustlab/datasets`, honouring XDG_CACHE_HOME. */
export function cacheDataRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'robustlab', 'datasets');
}

/** The root to use: explicit option, then ROBUSTLAB_DATA, then the user cache. */
export function dataRoot(opts: { dataDir?: string } = {}): string {
  return path.resolve(opts.dataDir || process.env.ROBUSTLAB_DATA || cacheDataRoot());
}

/** Folder named like a *different* dataset: never take its files for `name`. */
const isOtherDataset = (dir: string, name: DatasetName): boolean =>
  (DATASET_NAMES as readonly string[]).includes(path.basename(dir)) && path.basename(dir) !== name;

function findDatasetDir(root: string, name: DatasetName): string | undefined {
  const nested = path.join(root, name);
  if (hasAnyFile(nested, name)) return nested;
  if (!isOtherDataset(root, name) && hasAnyFile(root, name)) return root;
  return undefined;
}

/**
 * Finds the folder holding `name`'s files: `<root>/<name>/` or `<root>` itself, where root is
 * opts.dataDir, else $ROBUSTLAB_DATA, else the user cache. An explicit root is never silently
 * replaced by another, so a typo in --data-dir fails instead of loading something else.
 */
export function locateDataDir(name: DatasetName, opts: { dataDir?: string } = {}): string {
  const root = dataRoot(opts);
  const found = findDatasetDir(root, name);
  if (found) return found;
  const from = opts.dataDir
    ? '--data-dir'
    : process.env.ROBUSTLAB_DATA
      ? 'ROBUSTLAB_DATA'
      : 'cache';
  const other = isOtherDataset(root, name) ? ` (${root} is for ${path.basename(root)})` : '';
  throw new RobustlabError(
    `${name} dataset not found: looked in ${path.join(root, name)} and ${root} (${from})${other}; ` +
      `run \`robustlab data fetch --dataset ${name}\` or pass --data-dir <dir>`,
  );
}

interface RawSplit {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
}
type RawDataset = Record<SplitName, RawSplit>;

// Parsed bytes (not floats): a quarter of the memory, and every caller gets fresh float
// arrays it may mutate without affecting anyone else.
const rawCache = new Map<string, Promise<RawDataset>>();

export function clearDatasetCache(): void {
  rawCache.clear();
}

async function readRawDataset(name: DatasetName, dir: string): Promise<RawDataset> {
  const files = datasetFiles(name);
  const paths = files.map((f) => findFile(dir, f.file));
  const missing = files.filter((_, i) => paths[i] === undefined);
  if (missing.length > 0) {
    const list = missing.map((f) => path.join(dir, f.file)).join(', ');
    throw new RobustlabError(
      `missing file ${list} (nor its unpacked copy without .gz); ` +
        `run \`robustlab data fetch --dataset ${name}\` or pass --data-dir <dir>`,
    );
  }
  const found = paths as string[];
  // Read in parallel, but report the first failure in file order so errors are deterministic.
  const settled = await Promise.allSettled(
    found.map((p, i) => readIdxFile(p, i % 2 === 0 ? 'images' : 'labels')),
  );
  const failure = settled.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
  const idx = settled.map((r) => (r as PromiseFulfilledResult<IdxArray>).value);

  const split = (s: SplitName, i: number): RawSplit => {
    const n = validatePair(idx[i], idx[i + 1], [found[i], found[i + 1]]);
    const expected = DATASETS[name].splits[s].count;
    if (n !== expected) {
      throw new RobustlabError(`${found[i]}: expected ${expected} ${s} images, found ${n}`);
    }
    return { images: idx[i].data, labels: idx[i + 1].data, n };
  };
  return { train: split('train', 0), test: split('test', 2) };
}

function checkLimit(option: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
    throw new RobustlabError(`${option} must be a positive integer, got ${v}`);
  }
  return v;
}

function toSplit(raw: RawSplit, limit: number | undefined): Split {
  const n = Math.min(limit ?? raw.n, raw.n);
  return {
    images: imagesToFloat(raw.images.subarray(0, n * IMAGE_DIM)),
    labels: Int32Array.from(raw.labels.subarray(0, n)),
    n,
    dim: IMAGE_DIM,
  };
}

export interface LoadOptions {
  dataDir?: string;
  /** Keep only the first N training examples (quick runs). */
  limitTrain?: number;
  /** Keep only the first N test examples. */
  limitTest?: number;
}

/** Loads and fully validates a dataset; any problem rejects with a RobustlabError. */
export async function loadDataset(name: DatasetName, opts: LoadOptions = {}): Promise<Dataset> {
  const limitTrain = checkLimit('limitTrain', opts.limitTrain);
  const limitTest = checkLimit('limitTest', opts.limitTest);
  const dir = locateDataDir(name, opts);
  const key = `${name}\0${dir}`;
  let raw = rawCache.get(key);
  if (!raw) {
    raw = readRawDataset(name, dir);
    rawCache.set(key, raw);
    raw.catch(() => rawCache.delete(key)); // failures are not cached: the user may fix the files
  }
  const r = await raw;
  return {
    name,
    train: toSplit(r.train, limitTrain),
    test: toSplit(r.test, limitTest),
    classNames: [...DATASETS[name].classNames],
  };
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  /** SHA-256 of the file as stored ('' if missing). */
  sha256: string;
  problem?: string;
}

function contentProblem(idx: IdxArray, kind: IdxKind, count: number): string | undefined {
  if (idx.dims[0] !== count) return `expected ${count} ${kind}, found ${idx.dims[0]}`;
  if (kind === 'images' && (idx.dims[1] !== IMAGE_SIDE || idx.dims[2] !== IMAGE_SIDE)) {
    return `images are ${idx.dims[1]}x${idx.dims[2]}, expected ${IMAGE_SIDE}x${IMAGE_SIDE}`;
  }
  if (kind === 'labels' && idx.data.some((v) => v >= NUM_CLASSES)) {
    return `labels out of range 0..${NUM_CLASSES - 1}`;
  }
  return undefined;
}

/**
 * Checks each file against the registry's SHA-256 (of the .gz, or of the unpacked file) and
 * parses it. `dir` may be the dataset folder or a root holding `<name>/`.
 */
export async function verifyDataDir(name: DatasetName, dir: string): Promise<VerifyResult[]> {
  const root = path.resolve(dir);
  const d = findDatasetDir(root, name) ?? root;
  const checks = (['train', 'test'] as const).flatMap((s) =>
    (['images', 'labels'] as const).map(async (kind): Promise<VerifyResult> => {
      const f = DATASETS[name].splits[s][kind];
      const file = findFile(d, f.file);
      if (!file) return { file: path.join(d, f.file), ok: false, sha256: '', problem: 'missing' };
      const bytes = await readFile(file);
      const hash = sha256(bytes);
      let problem: string | undefined;
      try {
        const idx = parseIdx(await decompress(bytes, file), file, kind);
        problem = contentProblem(idx, kind, DATASETS[name].splits[s].count);
      } catch (e) {
        if (!(e instanceof RobustlabError)) throw e;
        problem = e.message.startsWith(`${file}: `) ? e.message.slice(file.length + 2) : e.message;
      }
      const expected = file.endsWith('.gz') ? f.sha256 : f.rawSha256;
      if (!problem && hash !== expected) problem = `SHA-256 mismatch (expected ${expected})`;
      return problem
        ? { file, ok: false, sha256: hash, problem }
        : { file, ok: true, sha256: hash };
    }),
  );
  return Promise.all(checks);
}

export interface FetchOptions {
  /** Root or dataset folder; default $ROBUSTLAB_DATA, else the user cache. */
  dataDir?: string;
  /** Base URL the file names are appended to; default $ROBUSTLAB_MIRROR, else the registry's. */
  mirror?: string;
  /** `total` is undefined when the server sends no Content-Length. */
  onProgress?: (file: string, bytes: number, total: number | undefined) => void;
}

async function fileSha256(p: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(p));
  } catch {
    return undefined;
  }
}

/** Streams `url` to a temp file beside `target`; only a verified file is renamed into place. */
async function download(
  url: string,
  target: string,
  f: DatasetFile,
  onProgress: FetchOptions['onProgress'],
): Promise<void> {
  const fail = (why: string, cause?: unknown): RobustlabError =>
    new RobustlabError(`${f.file}: download from ${url} failed: ${why}`, { cause });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const armStallTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => abort.abort(new Error(`no data for ${STALL_TIMEOUT_MS / 1000} s`)),
      STALL_TIMEOUT_MS,
    );
  };
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    armStallTimer();
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'follow', signal: abort.signal });
    } catch (e) {
      throw fail(errMessage(e), e);
    }
    if (!res.ok || !res.body) throw fail(`HTTP ${res.status} ${res.statusText}`.trim());
    const length = Number(res.headers.get('content-length'));
    const total = length > 0 ? length : undefined;

    const hash = createHash('sha256');
    let bytes = 0;
    const fh = await open(tmp, 'wx');
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armStallTimer();
        bytes += value.length;
        if (bytes > f.bytes) {
          await reader.cancel();
          throw fail(`larger than the expected ${f.bytes} bytes`);
        }
        hash.update(value);
        await fh.write(value);
        onProgress?.(f.file, bytes, total);
      }
      await fh.sync(); // the rename must never expose a file whose data is not on disk yet
    } catch (e) {
      throw e instanceof RobustlabError ? e : fail(errMessage(e), e);
    } finally {
      await fh.close();
    }
    const got = hash.digest('hex');
    if (got !== f.sha256) {
      throw new RobustlabError(
        `${f.file}: SHA-256 mismatch from ${url} (got ${got}, expected ${f.sha256})`,
      );
    }
    await rename(tmp, target);
  } finally {
    clearTimeout(timer);
    await rm(tmp, { force: true });
  }
}

/**
 * Downloads the four .gz files (skipping any already present with the right checksum) and
 * returns the dataset folder. Each file appears only once verified, via an atomic rename.
 */
export async function fetchDataset(name: DatasetName, opts: FetchOptions = {}): Promise<string> {
  const root = dataRoot(opts);
  const dir =
    findDatasetDir(root, name) ?? (path.basename(root) === name ? root : path.join(root, name));
  const base = opts.mirror || process.env.ROBUSTLAB_MIRROR || DATASETS[name].mirror;
  if (!URL.canParse(base)) throw new RobustlabError(`invalid mirror URL '${base}'`);
  const baseUrl = base.endsWith('/') ? base : `${base}/`; // else URL() drops the last segment

  try {
    mkdirp(dir);
  } catch (e) {
    throw new RobustlabError(`cannot create ${dir}: ${errMessage(e)}`, { cause: e });
  }
  for (const f of datasetFiles(name)) {
    const target = path.join(dir, f.file);
    if ((await fileSha256(target)) === f.sha256) continue;
    await download(new URL(f.file, baseUrl).href, target, f, opts.onProgress);
  }
  rawCache.delete(`${name}\0${dir}`);
  return dir;
}
