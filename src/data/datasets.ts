// Dataset registry and the in-memory dataset types. Browser-safe.
import { RobustlabError } from './errors.js';

export type DatasetName = 'mnist' | 'fashion-mnist';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist'];

export type SplitName = 'train' | 'test';
export const IMAGE_DIM = 784;

export interface Split {
  /** n x 784, row-major, pixel values in [0, 1]. */
  images: Float32Array;
  /** Class index 0..9 per image. */
  labels: Int32Array;
  n: number;
  dim: 784;
}

export interface Dataset {
  name: DatasetName;
  train: Split;
  test: Split;
  classNames: string[];
}

/** One published file. Hashes let us verify both the .gz and an already-unpacked copy. */
export interface DatasetFile {
  /** Published name, always ending in `.gz`. */
  file: string;
  /** Size of the .gz in bytes. */
  bytes: number;
  /** SHA-256 of the .gz as published. */
  sha256: string;
  /** SHA-256 of the uncompressed IDX file. */
  rawSha256: string;
}

export interface DatasetInfo {
  name: DatasetName;
  title: string;
  classNames: readonly string[];
  /** Default download location; file names are appended to it. */
  mirror: string;
  splits: Record<SplitName, { images: DatasetFile; labels: DatasetFile; count: number }>;
}

// Names and counts are the same for both datasets; only the contents (hashes) differ.
function splits(h: {
  trainImages: [number, string, string];
  trainLabels: [number, string, string];
  testImages: [number, string, string];
  testLabels: [number, string, string];
}): DatasetInfo['splits'] {
  const f = (file: string, [bytes, sha256, rawSha256]: [number, string, string]): DatasetFile => ({
    file,
    bytes,
    sha256,
    rawSha256,
  });
  return {
    train: {
      images: f('train-images-idx3-ubyte.gz', h.trainImages),
      labels: f('train-labels-idx1-ubyte.gz', h.trainLabels),
      count: 60000,
    },
    test: {
      images: f('t10k-images-idx3-ubyte.gz', h.testImages),
      labels: f('t10k-labels-idx1-ubyte.gz', h.testLabels),
      count: 10000,
    },
  };
}

export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  mnist: {
    name: 'mnist',
    title: 'MNIST handwritten digits',
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    mirror: 'https://ossci-datasets.s3.amazonaws.com/mnist/',
    splits: splits({
      trainImages: [
        9912422,
        '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
        'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      ],
      trainLabels: [
        28881,
        '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
        '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      ],
      testImages: [
        1648877,
        '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
        '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      ],
      testLabels: [
        4542,
        'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
        'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      ],
    }),
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST (Zalando Research)',
    classNames: [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ],
    mirror: 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    splits: splits({
      trainImages: [
        26421880,
        '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
        'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      ],
      trainLabels: [
        29515,
        'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
        'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      ],
      testImages: [
        4422102,
        '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
        '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      ],
      testLabels: [
        5148,
        '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
        '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
      ],
    }),
  },
};

/** The four files of a dataset, in a fixed order (train images, train labels, test ...). */
export function datasetFiles(name: DatasetName): DatasetFile[] {
  const { train, test } = DATASETS[name].splits;
  return [train.images, train.labels, test.images, test.labels];
}

export function parseDatasetName(s: string): DatasetName {
  if ((DATASET_NAMES as readonly string[]).includes(s)) return s as DatasetName;
  throw new RobustlabError(`unknown dataset '${s}' (expected one of: ${DATASET_NAMES.join(', ')})`);
}
