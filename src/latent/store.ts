/**
 * Latent-code datasets on disk (Node only). One file per split, `<name>.<split>.rlc`:
 *
 *   bytes 0..7    magic "RLCODES1"
 *   bytes 8..11   header length H (uint32 little-endian)
 *   next H bytes  header, UTF-8 JSON: { n, dim, key, provenance: {...}, payloadSha256 }
 *   then          codes: n·dim float32 little-endian (row-major), then labels: n int32 LE
 *
 * Files are written atomically, and a reader checks magic, lengths and the payload's SHA-256,
 * so a partial or damaged file is never taken as complete. `key` is a hash of everything the
 * codes depend on (generator weights, method, settings, data); a mismatch means "rebuild".
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { RobustlabError } from '../data/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readRegularFile } from '../util/safe-read.js';

const MAGIC = 'RLCODES1';

export interface CodeHeader {
  n: number;
  dim: number;
  key: string;
  provenance: Record<string, unknown>;
  payloadSha256?: string;
}

export interface CodeFile {
  header: CodeHeader;
  codes: Float32Array;
  labels: Int32Array;
}

export function sha256(...parts: (Uint8Array | string)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

function payloadBytes(codes: Float32Array, labels: Int32Array): Uint8Array {
  const out = new Uint8Array(codes.byteLength + labels.byteLength);
  out.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength), 0);
  out.set(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength), codes.byteLength);
  return out;
}

export function encodeCodeFile(f: CodeFile): Uint8Array {
  const { n, dim } = f.header;
  if (f.codes.length !== n * dim || f.labels.length !== n)
    throw new Error('code file: array sizes do not match the header');
  const payload = payloadBytes(f.codes, f.labels);
  const header = new TextEncoder().encode(
    JSON.stringify({ ...f.header, payloadSha256: sha256(payload) }),
  );
  const out = new Uint8Array(12 + header.length + payload.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  out.set(payload, 12 + header.length);
  return out;
}

export function decodeCodeFile(bytes: Uint8Array, file: string): CodeFile {
  const bad = (why: string) => new RobustlabError(`${file}: ${why}`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC)
    throw bad('not a robustlab code file (bad magic)');
  const hl = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + hl > bytes.length) throw bad('truncated header');
  let header: CodeHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hl)));
  } catch {
    throw bad('damaged header');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('damaged header');
  if (!header.provenance || typeof header.provenance !== 'object') header.provenance = {};
  const { n, dim } = header;
  if (!Number.isInteger(n) || !Number.isInteger(dim) || n < 0 || dim < 1)
    throw bad('bad n or dim in header');
  const expected = 12 + hl + n * dim * 4 + n * 4;
  if (bytes.length !== expected)
    throw bad(`expected ${expected} bytes, found ${bytes.length} (truncated or damaged)`);
  const payload = bytes.slice(12 + hl);
  if (header.payloadSha256 && sha256(payload) !== header.payloadSha256)
    throw bad('payload checksum mismatch (damaged)');
  const codes = new Float32Array(payload.buffer, 0, n * dim);
  const labels = new Int32Array(payload.buffer, n * dim * 4, n);
  for (let i = 0; i < codes.length; i++)
    if (!Number.isFinite(codes[i])) throw bad(`value ${i} is ${codes[i]} (NaN or infinite)`);
  for (let i = 0; i < n; i++)
    if (!(labels[i] >= 0 && labels[i] <= 9))
      throw bad(`label ${i} is ${labels[i]}, not a class 0..9`);
  return { header, codes, labels };
}

export function writeCodeFile(path: string, f: CodeFile): void {
  writeFileAtomic(path, encodeCodeFile(f));
}

export function readCodeFile(path: string): CodeFile {
  return decodeCodeFile(new Uint8Array(readRegularFile(path, 'code file')), path);
}

/** Read a code file if it exists, is intact and has the expected key; else undefined. */
export function readCodeFileIfCurrent(path: string, key: string): CodeFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const f = readCodeFile(path);
    return f.header.key === key ? f : undefined;
  } catch {
    return undefined;
  }
}
