/**
 * Bad-input corpus, part 2: damaged copies of real models, code files and data files, and
 * options that do not apply to the given model. The models are trained here, small (a 1L
 * image classifier, an AE, its code dataset and a 1L latent classifier on it), then copied and
 * damaged one way per case; each case must be refused with one line naming the problem, and
 * nothing in the workspace may change.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCodeFile, encodeCodeFile } from '../src/latent/store.js';
import { TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { cli, countCase, counts, refused, workspace } from './bad-input/harness.js';

const ws = workspace('models');
const W = ws.dir;
const D = ['--data-dir', TEST_DATA_DIR];
const SMALL = ['--limit-train', '300', '--limit-test', '100'];
afterAll(() => {
  ws.cleanup();
  console.log('bad-input model cases:', Object.fromEntries(counts));
});

async function ok(...args: string[]) {
  const r = await cli(W, ...args, ...D, '--quiet');
  expect(r.code, r.err).toBe(0);
  return r;
}

beforeAll(async () => {
  // Real, small models: a 1L image classifier, an AE, its codes, a 1L classifier on the codes.
  const tiny = ['--arch', '1L', '--hidden', '8', '--epochs', '1', ...SMALL];
  await ok('train', 'classifier', '--dataset', 'mnist', ...tiny, '--out', 'img');
  await ok('train', 'ae', '--dataset', 'mnist', '--epochs', '1', ...SMALL, '--out', 'latent/ae');
  await ok(
    'latent',
    '--dataset',
    'mnist',
    '--method',
    'ae-encoding',
    '--latent-dir',
    'latent',
    ...SMALL,
  );
  await ok(
    'train',
    'classifier',
    '--dataset',
    'mnist',
    '--space',
    'ae-encoding',
    ...tiny,
    '--latent-dir',
    'latent',
    '--out',
    'lat',
  );
  await ok('attack', '--model', 'img', '--n', '1', '--max-steps', '5', '--out', 'att');
  await ok(
    'attack',
    '--model',
    'lat',
    '--latent-dir',
    'latent',
    '--n',
    '1',
    '--max-steps',
    '5',
    '--out',
    'attlat',
  );
  mkdirSync(join(W, 'cases'));
});

let caseNo = 0;
/** A fresh copy of `src` (a directory in the workspace), for one case to damage. */
function copyOf(src: string): string {
  const dir = join(W, 'cases', `${src.replace(/\W/g, '_')}-${caseNo++}`);
  cpSync(join(W, src), dir, { recursive: true });
  return dir;
}

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const writeJson = (p: string, v: unknown) => writeFileSync(p, JSON.stringify(v));
const editJson = (p: string, f: (j: any) => unknown) => {
  const j = readJson(p);
  const r = f(j);
  writeJson(p, r === undefined ? j : r);
};

type Damage = [string, (dir: string) => void, RegExp];

/** Damages of an image classifier's directory, each with the problem it must be refused for. */
const MODEL_DAMAGES: Damage[] = [
  [
    'robustlab.json empty',
    (d) => writeFileSync(join(d, 'robustlab.json'), ''),
    /robustlab\.json: not valid JSON/,
  ],
  [
    'robustlab.json cut short',
    (d) => writeFileSync(join(d, 'robustlab.json'), '{"kind": "classifier", "par'),
    /not valid JSON/,
  ],
  [
    'robustlab.json null',
    (d) => writeFileSync(join(d, 'robustlab.json'), 'null'),
    /not a robustlab model description/,
  ],
  [
    'robustlab.json an array',
    (d) => writeFileSync(join(d, 'robustlab.json'), '[]'),
    /not a robustlab model description/,
  ],
  [
    'robustlab.json a string',
    (d) => writeFileSync(join(d, 'robustlab.json'), '"model"'),
    /not a robustlab model description/,
  ],
  [
    'robustlab.json {}',
    (d) => writeFileSync(join(d, 'robustlab.json'), '{}'),
    /'kind' must be one of/,
  ],
  [
    'kind unknown',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.kind = 'gan')),
    /'kind' must be one of classifier, ae, vae/,
  ],
  [
    'kind __proto__',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.kind = '__proto__')),
    /'kind' must be one of/,
  ],
  [
    'kind ae (not a classifier)',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.kind = 'ae')),
    /is a ae model, not a classifier/,
  ],
  [
    'part name ../ (outside the directory)',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = ['../../lat/model'])),
    /part name "\.\.\/\.\.\/lat\/model" is not a plain name/,
  ],
  [
    'part name absolute',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = ['/etc/passwd'])),
    /is not a plain name/,
  ],
  [
    'part name a number',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = [1])),
    /part name 1 is not a plain name/,
  ],
  [
    'part listed twice',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = ['model', 'model'])),
    /a part is listed twice/,
  ],
  [
    'parts empty',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = [])),
    /missing 'kind' or 'parts'/,
  ],
  [
    'arch 2L on 1L layers',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.arch = '2L')),
    /is not a 2L image classifier \(784 → 8 → 8 → 10\) as robustlab\.json says/,
  ],
  [
    'arch LRL on 1L layers',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.arch = 'LRL')),
    /is not a LRL image classifier/,
  ],
  [
    'arch constructor',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.arch = 'constructor')),
    /unknown architecture 'constructor'/,
  ],
  [
    'hidden disagrees',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.hidden = 16)),
    /784 → 8 → 10\) is not a 1L image classifier \(784 → 16 → 10\)/,
  ],
  [
    'hidden a string',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.hidden = '8')),
    /'hidden' must be a positive integer/,
  ],
  [
    'space latent on an image model',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.space = 'ae-encoding')),
    /a ae-encoding classifier has parts model, encoder, decoder; robustlab\.json lists model/,
  ],
  [
    'space unknown',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.space = 'pixels')),
    /unknown space 'pixels'/,
  ],
  [
    'dataset unknown',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.dataset = 'cifar')),
    /unknown dataset 'cifar'/,
  ],
  [
    'dataset constructor',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.dataset = 'constructor')),
    /unknown dataset 'constructor'/,
  ],
  [
    'dataset a number',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.dataset = 7)),
    /'dataset' must be a string/,
  ],
  [
    'robustlab.json missing',
    (d) => rmSync(join(d, 'robustlab.json')),
    /no robustlab model at .* \(robustlab\.json missing\)/,
  ],
  [
    'robustlab.json a directory',
    (d) => (rmSync(join(d, 'robustlab.json')), mkdirSync(join(d, 'robustlab.json'))),
    /robustlab\.json: is a directory, not a regular file/,
  ],
  [
    'model.json empty',
    (d) => writeFileSync(join(d, 'model.json'), ''),
    /model\.json: not valid JSON/,
  ],
  [
    'model.json null',
    (d) => writeFileSync(join(d, 'model.json'), 'null'),
    /model\.json: no weights manifest/,
  ],
  [
    'model.json no manifest',
    (d) => editJson(join(d, 'model.json'), (j) => void delete j.weightsManifest),
    /no weights manifest/,
  ],
  [
    'manifest path outside',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.weightsManifest[0].paths = ['../../lat/model.weights.bin']),
      ),
    /the weights manifest must name model\.weights\.bin/,
  ],
  [
    'manifest path another file',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.weightsManifest[0].paths = ['robustlab.json']),
      ),
    /must name model\.weights\.bin/,
  ],
  [
    'manifest two groups',
    (d) =>
      editJson(join(d, 'model.json'), (j) => void j.weightsManifest.push(j.weightsManifest[0])),
    /must name model\.weights\.bin/,
  ],
  [
    'kernel shape transposed',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.weightsManifest[0].weights[0].shape = [8, 784]),
      ),
    /weight "dense_0\/kernel" has shape \[8,784\], the spec needs \[784,8\]/,
  ],
  [
    'bias shape wrong',
    (d) =>
      editJson(join(d, 'model.json'), (j) => void (j.weightsManifest[0].weights[1].shape = [4, 2])),
    /weight "dense_0\/bias" has shape \[4,2\]/,
  ],
  [
    'weight renamed',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.weightsManifest[0].weights[2].name = 'dense_7/kernel'),
      ),
    /weight "dense_7\/kernel" has shape/,
  ],
  [
    'extra weight',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void j.weightsManifest[0].weights.push({ name: 'x', shape: [1], dtype: 'float32' }),
      ),
    /the manifest lists 5 weights, the spec needs 4/,
  ],
  [
    'weight missing',
    (d) => editJson(join(d, 'model.json'), (j) => void j.weightsManifest[0].weights.pop()),
    /lists 3 weights, the spec needs 4/,
  ],
  [
    'topology disagrees with the spec',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.modelTopology.config.layers[0].config.units = 9),
      ),
    /the layer topology disagrees with the network spec/,
  ],
  [
    'spec and topology say 9 units, weights 8',
    (d) =>
      editJson(join(d, 'model.json'), (j) => {
        j.modelTopology.config.layers[0].config.units = 9;
        j.userDefinedMetadata.robustlab.spec.layers[0].units = 9;
      }),
    /weight "dense_0\/kernel" has shape \[784,8\], the spec needs \[784,9\]/,
  ],
  [
    'impossible layer size',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.userDefinedMetadata.robustlab.spec.layers[0].units = 100000000),
      ),
    /layer of impossible size/,
  ],
  [
    'unknown activation',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.userDefinedMetadata.robustlab.spec.layers[0].activation = 'softmax'),
      ),
    /not a robustlab model file/,
  ],
  [
    'not a layers model',
    (d) => editJson(join(d, 'model.json'), (j) => void (j.format = 'graph-model')),
    /not a robustlab model file/,
  ],
  [
    'another part’s file',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.userDefinedMetadata.robustlab.part = 'encoder'),
      ),
    /holds part 'encoder', not 'model'/,
  ],
  [
    'dtype int32',
    (d) =>
      editJson(
        join(d, 'model.json'),
        (j) => void (j.weightsManifest[0].weights[0].dtype = 'int32'),
      ),
    /unsupported weight dtype int32/,
  ],
  ['model.json missing', (d) => rmSync(join(d, 'model.json')), /model\.json: model part missing/],
  [
    'weights truncated',
    (d) => truncateSync(join(d, 'model.weights.bin'), 100),
    /weights file has 100 bytes, expected \d+ \(truncated or damaged\)/,
  ],
  [
    'weights too long',
    (d) =>
      writeFileSync(
        join(d, 'model.weights.bin'),
        Buffer.concat([readFileSync(join(d, 'model.weights.bin')), Buffer.alloc(4)]),
      ),
    /truncated or damaged/,
  ],
  [
    'weights empty',
    (d) => writeFileSync(join(d, 'model.weights.bin'), ''),
    /weights file has 0 bytes/,
  ],
  [
    'weights with NaN',
    (d) => {
      const b = readFileSync(join(d, 'model.weights.bin'));
      b.writeFloatLE(NaN, 400);
      writeFileSync(join(d, 'model.weights.bin'), b);
    },
    /weights contain NaN or Infinity/,
  ],
  [
    'weights with Infinity',
    (d) => {
      const b = readFileSync(join(d, 'model.weights.bin'));
      b.writeFloatLE(-Infinity, b.length - 4);
      writeFileSync(join(d, 'model.weights.bin'), b);
    },
    /weights contain NaN or Infinity/,
  ],
  [
    'weights missing',
    (d) => rmSync(join(d, 'model.weights.bin')),
    /model\.weights\.bin: weights file missing/,
  ],
  [
    'weights a directory',
    (d) => (rmSync(join(d, 'model.weights.bin')), mkdirSync(join(d, 'model.weights.bin'))),
    /is a directory, not a regular file/,
  ],
  [
    'weights a symlink out of the directory',
    (d) => {
      cpSync(join(d, 'model.weights.bin'), join(W, 'cases', `outside-${caseNo}.bin`));
      rmSync(join(d, 'model.weights.bin'));
      symlinkSync(join(W, 'cases', `outside-${caseNo}.bin`), join(d, 'model.weights.bin'));
    },
    /leads outside .* \(symbolic link\); refused/,
  ],
  [
    'model.json a symlink out of the directory',
    (d) => {
      cpSync(join(d, 'model.json'), join(W, 'cases', `outside-${caseNo}.json`));
      rmSync(join(d, 'model.json'));
      symlinkSync(join(W, 'cases', `outside-${caseNo}.json`), join(d, 'model.json'));
    },
    /leads outside .* \(symbolic link\); refused/,
  ],
  [
    'a latent network in an image model',
    (d) => {
      for (const f of ['model.json', 'model.weights.bin']) cpSync(join(W, 'lat', f), join(d, f));
    },
    /the network \(32 → 8 → 10\) is not a 1L image classifier \(784 → 8 → 10\)/,
  ],
];

describe('damaged image classifiers are refused (eval, attack)', () => {
  for (const [name, damage, problem] of MODEL_DAMAGES) {
    it(name, async () => {
      const dir = copyOf('img');
      damage(dir);
      await refused(W, W, ['eval', '--model', dir, ...D], problem);
      countCase('damaged model');
    });
  }
  it('attack and svd refuse a damaged model the same way', async () => {
    for (const [, damage, problem] of MODEL_DAMAGES.slice(9, 18)) {
      const dir = copyOf('img');
      damage(dir);
      await refused(W, W, ['attack', '--model', dir, '--n', '1', ...D], problem);
      countCase('damaged model');
    }
  });
  it('refuses a missing directory and a file given as --model', async () => {
    await refused(
      W,
      W,
      ['eval', '--model', 'no-such-dir', ...D],
      /no robustlab model at no-such-dir/,
    );
    writeFileSync(join(W, 'cases', 'plain.txt'), 'x');
    await refused(
      W,
      W,
      ['eval', '--model', join(W, 'cases', 'plain.txt'), ...D],
      /no robustlab model at/,
    );
    countCase('damaged model');
    countCase('damaged model');
  });
});

const LATENT_DAMAGES: Damage[] = [
  [
    'a latent classifier said to be an image classifier',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.space = 'image')),
    /a image classifier has parts model; robustlab\.json lists decoder, encoder, model/,
  ],
  [
    'a latent classifier loaded as an image classifier',
    (d) =>
      editJson(join(d, 'robustlab.json'), (j) => {
        j.space = 'image';
        j.parts = ['model'];
      }),
    /the network \(32 → 8 → 10\) is not a 1L image classifier \(784 → 8 → 10\)/,
  ],
  [
    'an AE-space classifier said to be VAE-space',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.space = 'vae-encoding')),
    /the vae encoder is 784 → 32, expected 784 → \d+ → 64/,
  ],
  [
    'the decoder left out',
    (d) => editJson(join(d, 'robustlab.json'), (j) => void (j.parts = ['model', 'encoder'])),
    /has parts model, encoder, decoder; robustlab\.json lists encoder, model/,
  ],
  [
    'encoder and decoder swapped',
    (d) => {
      for (const ext of ['.json', '.weights.bin']) {
        cpSync(join(d, `encoder${ext}`), join(d, `tmp${ext}`));
        cpSync(join(d, `decoder${ext}`), join(d, `encoder${ext}`));
        cpSync(join(d, `tmp${ext}`), join(d, `decoder${ext}`));
        rmSync(join(d, `tmp${ext}`));
      }
    },
    /the weights manifest must name (en|de)coder\.weights\.bin/,
  ],
];

describe('damaged latent classifiers are refused', () => {
  for (const [name, damage, problem] of LATENT_DAMAGES) {
    it(name, async () => {
      const dir = copyOf('lat');
      damage(dir);
      await refused(
        W,
        W,
        ['eval', '--model', dir, '--latent-dir', join(W, 'latent'), ...D],
        problem,
      );
      countCase('damaged latent model');
    });
  }
});

/** Rewrite a code file with a valid checksum, so only the content check can catch it. */
function recode(p: string, f: (c: ReturnType<typeof decodeCodeFile>) => void) {
  const c = decodeCodeFile(new Uint8Array(readFileSync(p)), p);
  const copy = { header: { ...c.header }, codes: c.codes.slice(), labels: c.labels.slice() };
  f(copy);
  writeFileSync(p, encodeCodeFile(copy));
}

const TEST_CODES = 'ae-encoding.test.rlc';
const CODE_DAMAGES: Damage[] = [
  [
    'truncated',
    (d) => truncateSync(join(d, TEST_CODES), 200),
    /truncated or damaged|truncated header/,
  ],
  [
    'bad magic',
    (d) => {
      const b = readFileSync(join(d, TEST_CODES));
      b.write('XXXXXXXX', 0);
      writeFileSync(join(d, TEST_CODES), b);
    },
    /not a robustlab code file \(bad magic\)/,
  ],
  [
    'a flipped payload byte',
    (d) => {
      const b = readFileSync(join(d, TEST_CODES));
      b[b.length - 500] ^= 0xff;
      writeFileSync(join(d, TEST_CODES), b);
    },
    /payload checksum mismatch \(damaged\)/,
  ],
  [
    'NaN codes',
    (d) => recode(join(d, TEST_CODES), (c) => void (c.codes[5] = NaN)),
    /value 5 is NaN \(NaN or infinite\)/,
  ],
  [
    'infinite codes',
    (d) => recode(join(d, TEST_CODES), (c) => void (c.codes[0] = Infinity)),
    /NaN or infinite/,
  ],
  [
    'codes of the wrong dimension',
    (d) =>
      recode(join(d, TEST_CODES), (c) => {
        c.header.dim = 16;
        c.header.n = c.codes.length / 16 / 2;
        c.codes = c.codes.slice(0, c.header.n * 16);
        c.labels = c.labels.slice(0, c.header.n);
      }),
    /holds 16-d codes; a ae-encoding space has 32-d codes/,
  ],
  [
    'a label out of range',
    (d) => recode(join(d, TEST_CODES), (c) => void (c.labels[3] = 12)),
    /label 3 is 12, not a class 0\.\.9/,
  ],
  [
    'codes of another dataset',
    (d) =>
      recode(
        join(d, TEST_CODES),
        (c) => void (c.header.provenance = { ...c.header.provenance, dataset: 'fashion-mnist' }),
      ),
    /holds codes of fashion-mnist, not mnist/,
  ],
  [
    'codes of another method',
    (d) =>
      recode(
        join(d, TEST_CODES),
        (c) => void (c.header.provenance = { ...c.header.provenance, method: 'ae-projection' }),
      ),
    /holds ae-projection codes, not ae-encoding/,
  ],
  [
    'a null header',
    (d) => {
      const h = Buffer.from('null');
      const b = Buffer.alloc(12 + h.length);
      b.write('RLCODES1', 0);
      b.writeUInt32LE(h.length, 8);
      h.copy(b, 12);
      writeFileSync(join(d, TEST_CODES), b);
    },
    /damaged header/,
  ],
  [
    'a directory instead',
    (d) => (rmSync(join(d, TEST_CODES)), mkdirSync(join(d, TEST_CODES))),
    /is a directory, not a regular file/,
  ],
  ['missing', (d) => rmSync(join(d, TEST_CODES)), /latent dataset .* not found; build it with/],
];

describe('damaged code datasets are refused', () => {
  for (const [name, damage, problem] of CODE_DAMAGES) {
    it(name, async () => {
      const dir = copyOf('latent');
      damage(dir);
      await refused(W, W, ['eval', '--model', join(W, 'lat'), '--latent-dir', dir, ...D], problem);
      countCase('damaged code file');
    });
  }
});

describe('damaged data files are refused', () => {
  const FILES = [
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
  ];
  /** A data directory of links to the real files, one of them replaced by `damage`. */
  function dataDir(file: string, damage: (p: string) => void): string {
    const root = join(W, 'cases', `data-${caseNo++}`);
    mkdirSync(join(root, 'mnist'), { recursive: true });
    for (const f of FILES) symlinkSync(join(TEST_DATA_DIR, 'mnist', f), join(root, 'mnist', f));
    const p = join(root, 'mnist', file);
    rmSync(p);
    damage(p);
    return root;
  }
  const real = (f: string) => readFileSync(join(TEST_DATA_DIR, 'mnist', f));
  const cases: [string, string, (p: string) => void, RegExp][] = [
    [
      'truncated gzip',
      't10k-labels-idx1-ubyte.gz',
      (p) => writeFileSync(p, real('t10k-labels-idx1-ubyte.gz').subarray(0, 1000)),
      /corrupt gzip data.*\(file truncated\?\)/,
    ],
    [
      'garbage instead of gzip',
      't10k-labels-idx1-ubyte.gz',
      (p) => writeFileSync(p, Buffer.from('not an idx file at all')),
      /t10k-labels-idx1-ubyte\.gz: /,
    ],
    [
      'labels of the wrong split',
      't10k-labels-idx1-ubyte.gz',
      (p) => writeFileSync(p, real('train-labels-idx1-ubyte.gz')),
      /t10k-labels|60000|10000/,
    ],
    ['a directory instead', 'train-labels-idx1-ubyte.gz', (p) => mkdirSync(p), /train-labels/],
    ['an empty file', 't10k-images-idx3-ubyte.gz', (p) => writeFileSync(p, ''), /t10k-images/],
  ];
  for (const [name, file, damage, problem] of cases) {
    it(name, async () => {
      const root = dataDir(file, damage);
      await refused(W, W, ['eval', '--model', join(W, 'img'), '--data-dir', root], problem);
      countCase('damaged data file');
    });
  }
});

describe('options that do not apply to the model or command are refused', () => {
  const cases: [string[], RegExp][] = [
    [
      ['attack', '--model', 'img', '--pixel-projection', 'encoder'],
      /--pixel-projection does not apply here: it is for --mode pixel-space on a projection-space classifier \(img is image, --mode own-space\)/,
    ],
    [
      ['attack', '--model', 'img', '--mode', 'pixel-space'],
      /--mode pixel-space does not apply to an image-space classifier/,
    ],
    [
      ['attack', '--model', 'img', '--latent-dir', 'latent'],
      /--latent-dir does not apply to an image-space classifier/,
    ],
    [
      ['attack', '--model', 'lat', '--mode', 'pixel-space', '--pixel-projection', 'implicit'],
      /--pixel-projection does not apply here.*lat is ae-encoding, --mode pixel-space/,
    ],
    [
      ['attack', '--model', 'lat', '--pixel-projection', 'encoder'],
      /--pixel-projection does not apply/,
    ],
    [['attack', '--model', 'latent/ae'], /latent\/ae: is a ae model, not a classifier/],
    [
      ['eval', '--model', 'img', '--latent-dir', 'latent'],
      /--latent-dir does not apply to an image-space classifier/,
    ],
    [['eval', '--model', 'latent/ae'], /is a ae model, not a classifier/],
    [
      ['train', 'classifier', '--dataset', 'mnist', '--arch', '1L', '--latent-dir', 'latent'],
      /--latent-dir does not apply to an image-space classifier \(--space image\)/,
    ],
    [
      ['svd', '--model', 'img', '--mode', 'zero', '--factor', '0.5'],
      /--factor does not apply with --mode zero/,
    ],
    [
      ['svd', '--model', 'lat', '--mode', 'zero'],
      /the spectral sweep takes an image-space classifier \(lat is a ae-encoding classifier\)/,
    ],
    [['svd', '--model', 'latent/ae', '--mode', 'zero'], /takes an image-space classifier/],
    [
      ['latent', '--dataset', 'mnist', '--method', 'ae-encoding', '--steps', '5'],
      /--steps does not apply to --method ae-encoding \(projection methods only\)/,
    ],
    [
      ['latent', '--dataset', 'mnist', '--method', 'vae-encoding', '--norm', 'l1'],
      /--norm does not apply/,
    ],
    [
      ['latent', '--dataset', 'mnist', '--method', 'ae-encoding', '--lr', '0.1'],
      /--lr does not apply/,
    ],
    [
      ['latent', '--dataset', 'mnist', '--method', 'ae-projection', '--vae-code', 'mean'],
      /--vae-code does not apply to --method ae-projection \(vae-encoding only\)/,
    ],
    [
      ['data', 'verify', '--mirror', 'http://127.0.0.1:1/'],
      /--mirror does not apply to data verify/,
    ],
  ];
  for (const [args, problem] of cases) {
    it(args.join(' '), async () => {
      await refused(W, W, [...args, ...D], problem);
      countCase('does not apply');
    });
  }
});

describe('attack outputs used as inputs', () => {
  const svd = (dir: string) => [
    'svd',
    '--model',
    'img',
    '--mode',
    'zero',
    '--fractions',
    '0',
    '--reattack',
    '0',
    '--attack-dir',
    dir,
    '--out',
    join(W, 'cases', `svdout-${caseNo++}`),
    ...D,
    ...SMALL.slice(0, 0),
  ];
  const cases: Damage[] = [
    [
      'summary.json not JSON',
      (d) => writeFileSync(join(d, 'summary.json'), '{'),
      /summary\.json: not valid JSON/,
    ],
    [
      'summary.json with strings for numbers',
      (d) => editJson(join(d, 'summary.json'), (j) => void (j.success = j.success.map(String))),
      /not an attack summary written by robustlab attack/,
    ],
    [
      'summary.json and adversarial.rlc disagree',
      (d) =>
        editJson(join(d, 'summary.json'), (j) => {
          j.success.push(0);
          j.trueLabels.push(0);
        }),
      /adversarial\.rlc has 9 rows, summary\.json 10/,
    ],
    [
      'adversarial.rlc missing',
      (d) => rmSync(join(d, 'adversarial.rlc')),
      /adversarial\.rlc: code file missing/,
    ],
  ];
  for (const [name, damage, problem] of cases) {
    it(name, async () => {
      const dir = copyOf('att');
      damage(dir);
      await refused(W, W, svd(dir), problem);
      countCase('damaged attack output');
    });
  }
  it('an attack on a latent classifier is not an image-space attack', async () => {
    await refused(
      W,
      W,
      svd(join(W, 'attlat')),
      /holds an attack on a ae-encoding classifier \(32-d\); an image-space attack is needed/,
    );
    countCase('damaged attack output');
  });
});

describe('outputs next to real models', () => {
  const base = [
    'train',
    'classifier',
    '--dataset',
    'mnist',
    '--arch',
    '1L',
    '--hidden',
    '8',
    '--epochs',
    '1',
    ...SMALL,
  ];
  it('refuses to replace a model of another kind, or a model directory with other files in it', async () => {
    const withNotes = copyOf('img');
    writeFileSync(join(withNotes, 'notes.txt'), 'mine');
    const link = join(W, 'cases', `link-${caseNo++}`);
    mkdirSync(link + '-target');
    symlinkSync(link + '-target', link);
    const foreignSummary = join(W, 'cases', `fs-${caseNo++}`);
    mkdirSync(foreignSummary);
    writeFileSync(join(foreignSummary, 'summary.json'), '{"mine": true}');
    const cases: [string[], RegExp][] = [
      [
        [...base, '--out', 'latent/ae'],
        /--out 'latent\/ae' is a non-empty directory that is not a classifier model \(it holds a ae model\)/,
      ],
      [
        [...base, '--out', withNotes],
        /is a non-empty directory that is not only a classifier model \(it also holds 'notes\.txt'\)/,
      ],
      [
        ['train', 'ae', '--dataset', 'mnist', '--out', 'img'],
        /not a ae model \(it holds a classifier model\)/,
      ],
      [[...base, '--out', link], /is a symbolic link; name the directory itself/],
      [
        ['attack', '--model', 'img', '--out', foreignSummary],
        /not a robustlab attack output \(summary\.json is not one robustlab wrote\)/,
      ],
      [['attack', '--model', 'img', '--out', join(W, 'img', 'model.json')], /is an existing file/],
    ];
    for (const [args, problem] of cases) {
      await refused(W, W, [...args, ...D], problem);
      countCase('outputs');
    }
  });

  it('replaces a previous model of the same kind and says so; "1 epoch"', async () => {
    const dir = copyOf('img');
    const r = await cli(W, ...base, '--out', dir, ...D);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`robustlab: replacing the previous classifier model in ${dir}`);
    expect(r.out).toMatch(/^1 epoch in /m);
  });

  it('--json keeps progress on stderr and one JSON result on stdout', async () => {
    const r = await cli(W, ...base, '--out', join(W, 'cases', `json-${caseNo++}`), '--json', ...D);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).command).toBe('train classifier');
    expect(r.err).toMatch(/mnist\/image\/1L .*1\/1/);
  });

  it('svd writes what its help says, by default not into the model directory', async () => {
    const r = await cli(
      W,
      'svd',
      '--model',
      'img',
      '--mode',
      'zero',
      '--fractions',
      '0,0.5',
      '--reattack',
      '0',
      '--attack-dir',
      'att',
      '--quiet',
      ...D,
    );
    expect(r.code, r.err).toBe(0);
    for (const ext of ['json', 'md', 'svg', 'png'])
      expect(existsSync(join(W, 'runs', 'svd', 'img', `svd-zero.${ext}`)), ext).toBe(true);
    expect(readdirSync(join(W, 'img')).sort()).toEqual([
      'model.json',
      'model.weights.bin',
      'robustlab.json',
    ]);
  });
});
