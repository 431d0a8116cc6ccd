/**
 * The lab's HTTP server (Node): the built web app (dist/lab), the models, figures and report
 * of a reproduce run, and the test images, on 127.0.0.1 only. Every response carries the
 * COOP/COEP/CORP headers that make the page cross-origin isolated, so tfjs's wasm backend can
 * use its multi-threaded binary (SharedArrayBuffer).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATASETS, parseDatasetName, type DatasetName } from '../data/datasets.js';
import { RobustlabError } from '../data/errors.js';
import { locateDataDir } from '../data/node-io.js';
import type { ModelMeta } from '../models/meta.js';
import type { LabIndex, LabModelEntry } from './lab-index.js';

export type { LabIndex, LabModelEntry };

export const DEFAULT_LAB_PORT = 8642;

/** The built page: dist/lab next to dist/cli (the same from src/ under tsx). */
export function defaultAppDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'lab');
}

const SPACE_ORDER = ['image', 'ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'];
const ARCH_ORDER = ['1L', '2L', 'LRL'];

function readJson(path: string): any {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/** Model directories of a run: the classifier stages of graph.json, else every stage found. */
function classifierDirs(run: string): string[] {
  const stages = join(run, 'stages');
  if (!existsSync(stages)) return [];
  const graph = readJson(join(run, 'graph.json'));
  const names: string[] = Array.isArray(graph?.stages)
    ? graph.stages
        .filter((s: any) => s?.kind === 'classifier' && typeof s.dir === 'string')
        .map((s: any) => basename(s.dir))
    : readdirSync(stages).filter((d) => d.startsWith('classifier_'));
  return names
    .map((d) => join(stages, d, 'model'))
    .filter((d) => existsSync(join(d, 'robustlab.json')));
}

function findDataFile(dir: string, file: string): string | null {
  for (const f of [file, file.replace(/\.gz$/, '')]) if (existsSync(join(dir, f))) return f;
  return null;
}

/** The data directory a reproduce run recorded in graph.json, if it still exists. */
export function runDataDir(run: string): string | undefined {
  const d = readJson(join(run, 'graph.json'))?.dataDir;
  return typeof d === 'string' && existsSync(d) ? d : undefined;
}

/** What the page needs to know about a run; throws a RobustlabError if it has no models. */
export function indexRun(run: string, dataDir?: string): LabIndex {
  const root = resolve(run);
  if (!existsSync(root))
    throw new RobustlabError(
      `no run at ${run}: make one with \`npx robustlab reproduce --preset quick\` ` +
        `(add --data-dir DIR if the data is elsewhere), or pass --run DIR`,
    );
  // The data the run was made from, unless the caller names other data.
  dataDir ??= runDataDir(root);
  const datasets: LabIndex['datasets'] = {};
  for (const dir of classifierDirs(root)) {
    const meta = readJson(join(dir, 'robustlab.json')) as ModelMeta | null;
    if (!meta || meta.kind !== 'classifier' || !meta.arch) continue;
    let name: DatasetName;
    try {
      name = parseDatasetName(meta.dataset);
    } catch {
      continue;
    }
    const ds = (datasets[name] ??= {
      classNames: [...DATASETS[name].classNames],
      models: [],
      testData: null,
    });
    const codes = (meta.settings as any)?.codes;
    const rel = dir
      .slice(root.length + 1)
      .split(sep)
      .join('/');
    ds.models.push({
      id: `${name}/${meta.space}/${meta.arch}`,
      dataset: name,
      space: meta.space,
      arch: meta.arch,
      url: `/run/${rel}/`,
      testAccuracy: meta.accuracy?.test ?? null,
      projection:
        codes && String(meta.space).endsWith('projection')
          ? { steps: codes.steps, lr: codes.lr, norm: codes.norm }
          : null,
    });
  }
  if (Object.keys(datasets).length === 0)
    throw new RobustlabError(
      `${run} holds no finished classifiers: run \`npx robustlab reproduce --preset quick --out ${run}\` ` +
        `(it resumes), or pass --run DIR`,
    );
  for (const [name, ds] of Object.entries(datasets)) {
    ds.models.sort(
      (a, b) =>
        SPACE_ORDER.indexOf(a.space) - SPACE_ORDER.indexOf(b.space) ||
        ARCH_ORDER.indexOf(a.arch) - ARCH_ORDER.indexOf(b.arch),
    );
    // Keep one model per (space, arch): graph.json lists each once; a scan may find stale keys.
    ds.models = ds.models.filter((m, i) => ds.models.findIndex((o) => o.id === m.id) === i);
    try {
      const dir = locateDataDir(name as DatasetName, { dataDir });
      const { images, labels } = DATASETS[name as DatasetName].splits.test;
      const im = findDataFile(dir, images.file);
      const lb = findDataFile(dir, labels.file);
      if (im && lb) ds.testData = { images: `/data/${name}/${im}`, labels: `/data/${name}/${lb}` };
    } catch {
      ds.testData = null; // the page still works with drawn digits
    }
  }
  const results = readJson(join(root, 'results.json'));
  const figDir = join(root, 'figures');
  const figures = existsSync(figDir)
    ? readdirSync(figDir)
        .filter((f) => f.endsWith('.svg'))
        .sort()
        .map((f) => `/run/figures/${f}`)
    : [];
  return {
    run: root,
    preset: results?.preset ?? readJson(join(root, 'graph.json'))?.preset?.name ?? null,
    datasets,
    report: {
      html: existsSync(join(root, 'report.html')) ? '/run/report.html' : null,
      claims: Array.isArray(results?.claims) ? results.claims : [],
      figures,
    },
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.gz': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8',
  '.ico': 'image/x-icon',
};

/** Cross-origin isolation (wasm threads) and no caching of run files that a rerun may change. */
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** A file strictly inside `root` (no `..`, no absolute escapes), or null. */
function inside(root: string, rel: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const p = resolve(root, '.' + sep + decoded);
  if (p !== root && !p.startsWith(root + sep)) return null;
  try {
    return statSync(p).isFile() ? p : null;
  } catch {
    return null;
  }
}

export interface LabServerOptions {
  run: string;
  port?: number;
  dataDir?: string;
  appDir?: string;
}

export interface LabServer {
  url: string;
  index: LabIndex;
  close(): Promise<void>;
}

export async function startLabServer(o: LabServerOptions): Promise<LabServer> {
  const appDir = resolve(o.appDir ?? defaultAppDir());
  if (!existsSync(join(appDir, 'index.html')))
    throw new RobustlabError(
      `the lab page is not built (${appDir}/index.html missing): run \`npm run build\``,
    );
  const index = indexRun(o.run, o.dataDir);
  const runRoot = index.run;
  const dataDir = o.dataDir ?? runDataDir(runRoot);
  const dataDirs: Record<string, string> = {};
  for (const name of Object.keys(index.datasets)) {
    try {
      dataDirs[name] = locateDataDir(name as DatasetName, { dataDir });
    } catch {
      /* no test images for this dataset */
    }
  }
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string | Uint8Array, type: string) => {
      res.writeHead(status, { ...ISOLATION, 'Content-Type': type, 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, 'method not allowed', 'text/plain');
    const path = (req.url ?? '/').split('?')[0];
    let file: string | null = null;
    if (path === '/api/index.json') return send(200, JSON.stringify(index), TYPES['.json']);
    if (path.startsWith('/run/')) {
      const rel = path.slice('/run/'.length);
      const ok =
        /^(stages\/[^/]+\/model\/[^/]+\.(json|bin)|figures\/[^/]+\.(svg|png)|report\.(html|md)|results\.json)$/;
      file = ok.test(rel) ? inside(runRoot, rel) : null;
    } else if (path.startsWith('/data/')) {
      const [, , name, f] = path.split('/');
      const allowed = name in dataDirs && /^t10k-(images-idx3|labels-idx1)-ubyte(\.gz)?$/.test(f);
      file = allowed ? inside(dataDirs[name], f) : null;
    } else {
      file = inside(appDir, path === '/' ? 'index.html' : path.slice(1));
    }
    if (!file) return send(404, `not found: ${path}`, 'text/plain');
    send(200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
  });
  const port = o.port ?? DEFAULT_LAB_PORT;
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new RobustlabError(
              `port ${port} is in use (pass --port P, or --port 0 for any free port)`,
            )
          : new RobustlabError(`cannot listen on 127.0.0.1:${port}: ${e.message}`),
      ),
    );
    server.listen(port, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    index,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}
