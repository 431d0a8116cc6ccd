import { describe, expect, it } from 'vitest';
import { DATASETS, datasetFiles, parseDatasetName } from './datasets.js';
import { RobustlabError } from './errors.js';
import { idxKindOf, imagesToFloat, parseIdx, validatePair } from './idx.js';

/** Builds an IDX file: magic 00 00 08 <ndim>, big-endian dims, then the bytes. */
function idx(dims: number[], data: ArrayLike<number>, ndim = dims.length): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out.set([0, 0, 8, ndim]);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function errorOf(f: () => unknown): RobustlabError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RobustlabError);
    return e as RobustlabError;
  }
  throw new Error('expected a RobustlabError');
}

const images = (n: number, side = 28) => idx([n, side, side], new Uint8Array(n * side * side));

describe('RobustlabError', () => {
  it('is a named, one-line Error', () => {
    const e = new RobustlabError('a\nb');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('RobustlabError');
    expect(e.message).toBe('a b');
  });
});

describe('parseIdx', () => {
  it('reads labels and images with big-endian dims, as a view', () => {
    const l = parseIdx(idx([3], [1, 2, 9]), 'x-labels-idx1-ubyte');
    expect(l.dims).toEqual([3]);
    expect([...l.data]).toEqual([1, 2, 9]);
    const bytes = idx([2, 28, 28], new Uint8Array(2 * 784).fill(7));
    const i = parseIdx(bytes, 'x-images-idx3-ubyte');
    expect(i.dims).toEqual([2, 28, 28]);
    expect(i.data.length).toBe(2 * 784);
    expect(i.data.buffer).toBe(bytes.buffer);
    // Counts above 2^24 must not be read as signed or little-endian.
    expect(() => parseIdx(idx([0x01020304], []), 'q-labels')).toThrow(
      `q-labels: truncated: expected ${8 + 0x01020304} bytes, got 8`,
    );
  });

  it('rejects a wrong magic number, naming the file and the expected value', () => {
    expect(
      errorOf(() => parseIdx(idx([3, 1, 1], [0, 0, 0], 2), 't10k-labels-idx1-ubyte.gz')).message,
    ).toBe(
      't10k-labels-idx1-ubyte.gz: wrong magic number 0x00000802 (expected 0x00000801 for labels)',
    );
    // A labels file where images were expected.
    expect(errorOf(() => parseIdx(idx([1], [0]), 'train-images-idx3-ubyte')).message).toMatch(
      /^train-images-idx3-ubyte: wrong magic number 0x00000801 \(expected 0x00000803 for images\)$/,
    );
    // Non-ubyte element type (0x0d = float).
    const f = idx([1], [0]);
    f[2] = 0x0d;
    expect(errorOf(() => parseIdx(f, 'data')).message).toMatch(
      /^data: wrong magic number 0x00000d01 \(expected 0x00000801 for labels or 0x00000803 for images\)$/,
    );
  });

  it('accepts 1 or 3 dims when the name does not tell the kind', () => {
    expect(parseIdx(idx([1], [5]), 'blob').dims).toEqual([1]);
    expect(parseIdx(images(1), 'blob').dims).toEqual([1, 28, 28]);
    expect(() => parseIdx(idx([1, 1], [5]), 'blob')).toThrow(/wrong magic number 0x00000802/);
  });

  it('rejects gzip data with a clear message', () => {
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0]), 'a.gz')).toThrow(
      /^a\.gz: gzip-compressed data/,
    );
  });

  it('checks the exact length', () => {
    const ok = idx([4], [0, 1, 2, 3]);
    expect(errorOf(() => parseIdx(ok.subarray(0, 2), 'l-labels')).message).toBe(
      'l-labels: truncated: expected at least 4 bytes of header, got 2',
    );
    expect(errorOf(() => parseIdx(ok.subarray(0, 6), 'l-labels')).message).toBe(
      'l-labels: truncated: expected at least 8 bytes of header, got 6',
    );
    expect(errorOf(() => parseIdx(ok.subarray(0, 11), 'l-labels')).message).toBe(
      'l-labels: truncated: expected 12 bytes, got 11',
    );
    const long = new Uint8Array(13);
    long.set(ok);
    expect(errorOf(() => parseIdx(long, 'l-labels')).message).toBe(
      'l-labels: trailing bytes: expected 12 bytes, got 13',
    );
  });

  it('works on a view with a non-zero byteOffset', () => {
    const inner = idx([2], [3, 4]);
    const outer = new Uint8Array(inner.length + 5);
    outer.set(inner, 5);
    expect([...parseIdx(outer.subarray(5), 'x-labels').data]).toEqual([3, 4]);
  });

  it('guesses the kind from conventional names', () => {
    expect(idxKindOf('/a/b/train-labels-idx1-ubyte.gz')).toBe('labels');
    expect(idxKindOf('t10k-images-idx3-ubyte')).toBe('images');
    expect(idxKindOf('data.bin')).toBeUndefined();
  });
});

describe('imagesToFloat', () => {
  it('scales 0..255 to [0, 1] into a new array', () => {
    const src = new Uint8Array([0, 51, 255]);
    const out = imagesToFloat(src);
    expect(out).toBeInstanceOf(Float32Array);
    expect([...out]).toEqual([0, Math.fround(0.2), 1]);
  });
});

describe('validatePair', () => {
  const names = ['imgs-idx3', 'lbls-idx1'] as const;
  const labels = (l: number[]) => parseIdx(idx([l.length], l), names[1]);

  it('returns the count for a matching pair', () => {
    expect(validatePair(parseIdx(images(2), names[0]), labels([0, 9]), names)).toBe(2);
  });

  it('rejects count mismatch, wrong size, bad labels, swapped files', () => {
    const img = parseIdx(images(2), names[0]);
    expect(errorOf(() => validatePair(img, labels([1]), names)).message).toBe(
      'count mismatch: imgs-idx3 has 2 images but lbls-idx1 has 1 labels',
    );
    expect(() => validatePair(parseIdx(images(1, 27), names[0]), labels([1]), names)).toThrow(
      /^imgs-idx3: images are 27x27, expected 28x28$/,
    );
    expect(() => validatePair(img, labels([3, 10]), names)).toThrow(
      /^lbls-idx1: label 10 at index 1 is out of range 0\.\.9$/,
    );
    expect(() => validatePair(labels([1]), img, names)).toThrow(
      /^imgs-idx3: expected an images file/,
    );
  });
});

describe('datasets registry', () => {
  it('parses dataset names', () => {
    expect(parseDatasetName('mnist')).toBe('mnist');
    expect(parseDatasetName('fashion-mnist')).toBe('fashion-mnist');
    expect(errorOf(() => parseDatasetName('cifar')).message).toBe(
      "unknown dataset 'cifar' (expected one of: mnist, fashion-mnist)",
    );
  });

  it('lists four files and ten classes per dataset', () => {
    for (const name of ['mnist', 'fashion-mnist'] as const) {
      expect(datasetFiles(name).map((f) => f.file)).toEqual([
        'train-images-idx3-ubyte.gz',
        'train-labels-idx1-ubyte.gz',
        't10k-images-idx3-ubyte.gz',
        't10k-labels-idx1-ubyte.gz',
      ]);
      expect(DATASETS[name].classNames).toHaveLength(10);
      for (const f of datasetFiles(name)) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(DATASETS['fashion-mnist'].classNames[9]).toBe('Ankle boot');
  });
});
