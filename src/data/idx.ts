// Strict reader for (uncompressed) IDX files. Browser-safe: works on bytes only.
import { RobustlabError } from './errors.js';

export interface IdxArray {
  dims: number[];
  /** A view into the input bytes (not a copy). */
  data: Uint8Array;
}

export type IdxKind = 'images' | 'labels';

export const IMAGE_SIDE = 28;
export const NUM_CLASSES = 10;

const NDIM: Record<IdxKind, number> = { labels: 1, images: 3 };
const UBYTE = 0x08;

const hex32 = (n: number): string => '0x' + n.toString(16).padStart(8, '0');

/** Expected kind from the conventional names (`*-labels-idx1-*`, `*-images-idx3-*`), if any. */
export function idxKindOf(fileName: string): IdxKind | undefined {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  if (/labels|idx1/i.test(base)) return 'labels';
  if (/images|idx3/i.test(base)) return 'images';
  return undefined;
}

/**
 * Parses an unsigned-byte IDX file with 1 (labels) or 3 (images) dimensions. `kind` defaults to
 * what the file name says, so a labels file with an images header is caught here already.
 */
export function parseIdx(
  bytes: Uint8Array,
  fileName: string,
  kind: IdxKind | undefined = idxKindOf(fileName),
): IdxArray {
  const fail = (problem: string): never => {
    throw new RobustlabError(`${fileName}: ${problem}`);
  };
  if (bytes.length < 4) fail(`truncated: expected at least 4 bytes of header, got ${bytes.length}`);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    fail('gzip-compressed data where raw IDX was expected');
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ndim = bytes[3];
  const ndimOk = kind ? ndim === NDIM[kind] : ndim === 1 || ndim === 3;
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== UBYTE || !ndimOk) {
    const expected = kind
      ? `${hex32(0x800 | NDIM[kind])} for ${kind}`
      : '0x00000801 for labels or 0x00000803 for images';
    fail(`wrong magic number ${hex32(view.getUint32(0))} (expected ${expected})`);
  }

  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    fail(`truncated: expected at least ${headerLen} bytes of header, got ${bytes.length}`);
  }
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    size *= d;
  }
  const expectedLen = headerLen + size;
  if (bytes.length < expectedLen) {
    fail(`truncated: expected ${expectedLen} bytes, got ${bytes.length}`);
  }
  if (bytes.length > expectedLen) {
    fail(`trailing bytes: expected ${expectedLen} bytes, got ${bytes.length}`);
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/** Pixels 0..255 -> [0, 1]. Always a fresh array, so callers may mutate it. */
export function imagesToFloat(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return out;
}

/**
 * Checks that an images/labels pair belongs together: same count, 28x28 images, labels 0..9.
 * Returns the number of examples.
 */
export function validatePair(
  images: IdxArray,
  labels: IdxArray,
  fileNames: readonly [images: string, labels: string],
): number {
  const [imagesFile, labelsFile] = fileNames;
  if (images.dims.length !== 3) {
    throw new RobustlabError(
      `${imagesFile}: expected an images file (3 dimensions), got ${images.dims.length}`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new RobustlabError(
      `${labelsFile}: expected a labels file (1 dimension), got ${labels.dims.length}`,
    );
  }
  const [n, rows, cols] = images.dims;
  if (rows !== IMAGE_SIDE || cols !== IMAGE_SIDE) {
    throw new RobustlabError(
      `${imagesFile}: images are ${rows}x${cols}, expected ${IMAGE_SIDE}x${IMAGE_SIDE}`,
    );
  }
  if (labels.dims[0] !== n) {
    throw new RobustlabError(
      `count mismatch: ${imagesFile} has ${n} images but ${labelsFile} has ${labels.dims[0]} labels`,
    );
  }
  const bad = labels.data.findIndex((v) => v >= NUM_CLASSES);
  if (bad >= 0) {
    throw new RobustlabError(
      `${labelsFile}: label ${labels.data[bad]} at index ${bad} is out of range 0..${NUM_CLASSES - 1}`,
    );
  }
  return n;
}
