/**
 * Datasets from bytes the caller already has (a `fetch` in a page, a file read in Node): the
 * IDX files, gzip'd or not. Browser-safe: gunzips with the platform's DecompressionStream.
 */
import { DATASETS, IMAGE_DIM, type Dataset, type DatasetName, type Split } from './datasets.js';
import { RobustlabError } from './errors.js';
import { imagesToFloat, parseIdx, validatePair } from './idx.js';

/** Gunzips if the bytes start with the gzip magic (1f 8b), else returns them unchanged. */
export async function gunzipIfNeeded(bytes: Uint8Array, fileName: string): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    const stream = new Blob([bytes as BlobPart])
      .stream()
      .pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new RobustlabError(`${fileName}: corrupt gzip data (${(e as Error).message})`);
  }
}

/** One split (images + labels IDX bytes), validated; `limit` keeps the first N examples. */
export async function splitFromIdxBytes(
  images: Uint8Array,
  labels: Uint8Array,
  opts: { imagesName?: string; labelsName?: string; limit?: number } = {},
): Promise<Split> {
  const imagesName = opts.imagesName ?? 'images';
  const labelsName = opts.labelsName ?? 'labels';
  const im = parseIdx(await gunzipIfNeeded(images, imagesName), imagesName, 'images');
  const lb = parseIdx(await gunzipIfNeeded(labels, labelsName), labelsName, 'labels');
  const total = validatePair(im, lb, [imagesName, labelsName]);
  const n = Math.min(opts.limit ?? total, total);
  return {
    images: imagesToFloat(im.data.subarray(0, n * IMAGE_DIM)),
    labels: Int32Array.from(lb.data.subarray(0, n)),
    n,
    dim: IMAGE_DIM,
  };
}

/**
 * A dataset from its four published files, keyed by file name (`train-images-idx3-ubyte.gz`
 * or the unpacked name without `.gz`).
 */
export async function datasetFromFiles(
  name: DatasetName,
  files: Record<string, Uint8Array>,
  opts: { limitTrain?: number; limitTest?: number } = {},
): Promise<Dataset> {
  const info = DATASETS[name];
  if (!info) throw new RobustlabError(`unknown dataset '${name}'`);
  const get = (file: string): Uint8Array => {
    const bytes = files[file] ?? files[file.replace(/\.gz$/, '')];
    if (!bytes) throw new RobustlabError(`${name}: file ${file} missing`);
    return bytes;
  };
  const split = async (s: 'train' | 'test', limit?: number) => {
    const { images, labels } = info.splits[s];
    return splitFromIdxBytes(get(images.file), get(labels.file), {
      imagesName: images.file,
      labelsName: labels.file,
      limit,
    });
  };
  return {
    name,
    train: await split('train', opts.limitTrain),
    test: await split('test', opts.limitTest),
    classNames: [...info.classNames],
  };
}
