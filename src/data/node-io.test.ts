import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { DATASETS, datasetFiles, type DatasetName } from './datasets.js';
import { RobustlabError } from './errors.js';
import { fetchDataset, loadDataset, locateDataDir, verifyDataDir } from './node-io.js';
import { TEST_DATA_DIR } from '../testing/fixtures.js';

const DATA = TEST_DATA_DIR;
const FILES = datasetFiles('mnist').map((f) => f.file);

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'robustlab-data-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function rejection(p: Promise<unknown>): Promise<RobustlabError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RobustlabError);
  expect((e as Error).message).not.toContain('\n');
  return e as RobustlabError;
}

function histogram(labels: Int32Array): number[] {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]++;
  return h;
}

describe('real datasets', () => {
  const expected: Record<DatasetName, { train: number[]; test: number[] }> = {
    mnist: {
      train: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
      test: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    },
    'fashion-mnist': { train: new Array(10).fill(6000), test: new Array(10).fill(1000) },
  };

  it.each(['mnist', 'fashion-mnist'] as const)(
    '%s: counts, pixel range, label histogram',
    async (name) => {
      const ds = await loadDataset(name, { dataDir: DATA });
      expect(ds.name).toBe(name);
      expect(ds.classNames).toEqual(DATASETS[name].classNames);
      for (const [split, n] of [
        ['train', 60000],
        ['test', 10000],
      ] as const) {
        const s = ds[split];
        expect(s.n).toBe(n);
        expect(s.dim).toBe(784);
        expect(s.images.length).toBe(n * 784);
        expect(s.labels.length).toBe(n);
        let min = Infinity;
        let max = -Infinity;
        for (const v of s.images) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
        expect(min).toBe(0);
        expect(max).toBe(1);
        expect(histogram(s.labels)).toEqual(expected[name][split]);
      }
    },
  );

  it('accepts the dataset folder itself, a limit, and gives each caller its own arrays', async () => {
    const full = await loadDataset('mnist', { dataDir: DATA });
    const small = await loadDataset('mnist', {
      dataDir: path.join(DATA, 'mnist'),
      limitTrain: 100,
      limitTest: 20,
    });
    expect(small.train.n).toBe(100);
    expect(small.train.images.length).toBe(100 * 784);
    expect(small.test.labels.length).toBe(20);
    expect([...small.train.labels]).toEqual([...full.train.labels.subarray(0, 100)]);
    expect(small.train.images).toEqual(full.train.images.subarray(0, 100 * 784));
    small.train.images[0] = 42; // must not leak into other loads
    expect((await loadDataset('mnist', { dataDir: DATA, limitTrain: 1 })).train.images[0]).toBe(0);
    await expect(loadDataset('mnist', { dataDir: DATA, limitTrain: 0 })).rejects.toThrow(
      /limitTrain must be a positive integer/,
    );
  });

  it('verifyDataDir reports every real file as ok', async () => {
    for (const name of ['mnist', 'fashion-mnist'] as const) {
      const res = await verifyDataDir(name, DATA);
      expect(res.map((r) => path.basename(r.file))).toEqual(FILES);
      for (const [i, r] of res.entries()) {
        expect(r).toEqual({ file: r.file, ok: true, sha256: datasetFiles(name)[i].sha256 });
      }
    }
  });

  it('registry hashes match the SHA256SUMS files', async () => {
    for (const name of ['mnist', 'fashion-mnist'] as const) {
      const sums = await readFile(path.join(DATA, name, 'SHA256SUMS'), 'utf8');
      for (const f of datasetFiles(name)) expect(sums).toContain(`${f.sha256}  ${f.file}`);
    }
  });
});

describe('locateDataDir', () => {
  it('takes --data-dir, then ROBUSTLAB_DATA, then the XDG cache', async () => {
    const empty = await tmpDir();
    expect(locateDataDir('mnist', { dataDir: DATA })).toBe(path.join(DATA, 'mnist'));
    expect(locateDataDir('mnist', { dataDir: path.join(DATA, 'mnist') })).toBe(
      path.join(DATA, 'mnist'),
    );
    vi.stubEnv('ROBUSTLAB_DATA', DATA);
    expect(locateDataDir('fashion-mnist')).toBe(path.join(DATA, 'fashion-mnist'));
    vi.stubEnv('ROBUSTLAB_DATA', '');
    vi.stubEnv('XDG_CACHE_HOME', empty);
    const e = await rejection(Promise.resolve().then(() => locateDataDir('mnist')));
    expect(e.message).toContain(path.join(empty, 'robustlab', 'datasets', 'mnist'));
    expect(e.message).toMatch(/robustlab data fetch --dataset mnist.*--data-dir/);
  });

  it("does not take one dataset's folder for the other", async () => {
    const e = await rejection(
      Promise.resolve().then(() =>
        locateDataDir('fashion-mnist', { dataDir: path.join(DATA, 'mnist') }),
      ),
    );
    expect(e.message).toMatch(/fashion-mnist dataset not found.*is for mnist/);
  });
});

describe('damaged files', () => {
  const real = (f: string) => path.join(DATA, 'mnist', f);
  const raw = async (f: string) => gunzipSync(await readFile(real(f)));

  /** A dataset folder of symlinks to the real files, with `file` replaced by `bytes`. */
  async function damaged(file: string, bytes: Uint8Array | null, asName = file): Promise<string> {
    const dir = await tmpDir();
    for (const f of FILES) if (f !== file) await symlink(real(f), path.join(dir, f));
    if (bytes) await writeFile(path.join(dir, asName), bytes);
    return dir;
  }
  const load = (dir: string) => loadDataset('mnist', { dataDir: dir });
  const LBL = 't10k-labels-idx1-ubyte.gz';
  const IMG = 't10k-images-idx3-ubyte.gz';

  it('truncated gzip', async () => {
    const gz = await readFile(real(LBL));
    const e = await rejection(load(await damaged(LBL, gz.subarray(0, gz.length >> 1))));
    expect(e.message).toMatch(
      /t10k-labels-idx1-ubyte\.gz: corrupt gzip data: unexpected end of file/,
    );
  });

  it('corrupt gzip bytes', async () => {
    const gz = Buffer.from(await readFile(real(LBL)));
    gz.fill(0xff, 200, 400);
    const e = await rejection(load(await damaged(LBL, gz)));
    expect(e.message).toMatch(/t10k-labels-idx1-ubyte\.gz: corrupt gzip data: /);
  });

  it('truncated raw IDX (unpacked copy without .gz)', async () => {
    const bytes = (await raw(IMG)).subarray(0, 7840016 - 100);
    const e = await rejection(load(await damaged(IMG, bytes, 't10k-images-idx3-ubyte')));
    expect(e.message).toMatch(
      /t10k-images-idx3-ubyte: truncated: expected 7840016 bytes, got 7839916$/,
    );
  });

  it('trailing bytes', async () => {
    const bytes = Buffer.concat([await raw(LBL), Buffer.from([1, 2, 3])]);
    const e = await rejection(load(await damaged(LBL, gzipSync(bytes))));
    expect(e.message).toMatch(
      /t10k-labels-idx1-ubyte\.gz: trailing bytes: expected 10008 bytes, got 10011/,
    );
  });

  it('wrong magic', async () => {
    const bytes = await raw(LBL);
    bytes[3] = 2;
    const e = await rejection(load(await damaged(LBL, gzipSync(bytes))));
    expect(e.message).toMatch(
      /t10k-labels-idx1-ubyte\.gz: wrong magic number 0x00000802 \(expected 0x00000801 for labels\)/,
    );
  });

  it('count mismatch between images and labels', async () => {
    const bytes = (await raw(LBL)).subarray(0, 10007);
    bytes.writeUInt32BE(9999, 4);
    const e = await rejection(load(await damaged(LBL, gzipSync(bytes))));
    expect(e.message).toMatch(
      /count mismatch: \S*t10k-images-idx3-ubyte\.gz has 10000 images but \S*t10k-labels-idx1-ubyte\.gz has 9999 labels/,
    );
  });

  it('label out of range', async () => {
    const bytes = await raw(LBL);
    bytes[8 + 17] = 10;
    const e = await rejection(load(await damaged(LBL, gzipSync(bytes))));
    expect(e.message).toMatch(/t10k-labels-idx1-ubyte\.gz: label 10 at index 17 is out of range/);
  });

  it('missing file', async () => {
    const e = await rejection(load(await damaged('train-labels-idx1-ubyte.gz', null)));
    expect(e.message).toMatch(/missing file \S*train-labels-idx1-ubyte\.gz/);
    expect(e.message).toMatch(/robustlab data fetch --dataset mnist/);
  });

  it('verifyDataDir flags the damaged file only', async () => {
    const gz = await readFile(real(LBL));
    const res = await verifyDataDir('mnist', await damaged(LBL, gz.subarray(0, 1000)));
    expect(res.map((r) => r.ok)).toEqual([true, true, true, false]);
    expect(res[3].problem).toMatch(/^corrupt gzip data/);
    const bad = await raw(LBL);
    bad[20] = (bad[20] + 1) % 10; // still parses: only the checksum can tell
    const res2 = await verifyDataDir('mnist', await damaged(LBL, bad, 't10k-labels-idx1-ubyte'));
    expect(res2[3]).toMatchObject({ ok: false, problem: /SHA-256 mismatch/ });
  });
});

describe('fetchDataset', () => {
  /** Serves DATA/<name>/ files; `/old/x` redirects to `/x`; `tamper` gets one byte flipped. */
  async function serve(name: string, tamper?: string) {
    const requests: string[] = [];
    const server: Server = createServer(async (req, res) => {
      const url = req.url ?? '/';
      requests.push(url);
      if (url.startsWith('/old/')) {
        res.writeHead(302, { location: url.slice(4) }).end();
        return;
      }
      const file = path.join(DATA, name, path.basename(url));
      if (!existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.from(await readFile(file));
      if (path.basename(url) === tamper) body[body.length >> 1] ^= 1;
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}/`,
      requests,
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }

  it('downloads, verifies, follows redirects and skips files already present', async () => {
    const srv = await serve('mnist');
    try {
      const root = await tmpDir();
      const progress = new Map<string, [number, number | undefined]>();
      const dir = await fetchDataset('mnist', {
        dataDir: root,
        mirror: `${srv.url}old`, // no trailing slash on purpose
        onProgress: (f, b, t) => progress.set(f, [b, t]),
      });
      expect(dir).toBe(path.join(root, 'mnist'));
      expect((await readdir(dir)).sort()).toEqual([...FILES].sort());
      expect((await verifyDataDir('mnist', dir)).every((r) => r.ok)).toBe(true);
      for (const f of datasetFiles('mnist'))
        expect(progress.get(f.file)).toEqual([f.bytes, f.bytes]);
      expect(srv.requests).toHaveLength(8); // 4 redirects + 4 files

      srv.requests.length = 0;
      vi.stubEnv('ROBUSTLAB_MIRROR', srv.url);
      expect(await fetchDataset('mnist', { dataDir: root })).toBe(dir);
      expect(srv.requests).toHaveLength(0);
      expect((await loadDataset('mnist', { dataDir: root, limitTrain: 5 })).train.n).toBe(5);
    } finally {
      await srv.close();
    }
  });

  it('rejects a tampered file and leaves nothing in its place', async () => {
    const srv = await serve('mnist', 't10k-images-idx3-ubyte.gz');
    try {
      const root = await tmpDir();
      const e = await rejection(fetchDataset('mnist', { dataDir: root, mirror: srv.url }));
      expect(e.message).toMatch(
        new RegExp(
          `^t10k-images-idx3-ubyte\\.gz: SHA-256 mismatch from ${srv.url}t10k-images-idx3-ubyte\\.gz ` +
            `\\(got [0-9a-f]{64}, expected ${DATASETS.mnist.splits.test.images.sha256}\\)$`,
        ),
      );
      const files = await readdir(path.join(root, 'mnist'));
      expect(files).not.toContain('t10k-images-idx3-ubyte.gz');
      expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('reports HTTP errors and unreachable mirrors', async () => {
    const srv = await serve('no-such-dir');
    const root = await tmpDir();
    try {
      const e = await rejection(fetchDataset('mnist', { dataDir: root, mirror: srv.url }));
      expect(e.message).toMatch(/^train-images-idx3-ubyte\.gz: download from \S+ failed: HTTP 404/);
    } finally {
      await srv.close();
    }
    // A port no client has used: reusing srv's port could hit fetch's kept-alive socket to the
    // closed server ("other side closed") instead of a refused connection.
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const { port } = unused.address() as { port: number };
    await new Promise((resolve) => unused.close(resolve));
    const e2 = await rejection(
      fetchDataset('mnist', { dataDir: root, mirror: `http://127.0.0.1:${port}/` }),
    );
    expect(e2.message).toMatch(/failed: fetch failed: .*ECONNREFUSED/);
    expect(await readdir(path.join(root, 'mnist'))).toEqual([]);
  });
});
