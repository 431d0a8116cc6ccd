import { DATASET_NAMES, type DatasetName } from '../../data/datasets.js';
import { RobustlabError } from '../../data/errors.js';
import { dataRoot, fetchDataset, locateDataDir, verifyDataDir } from '../../data/node-io.js';
import { Progress } from '../../util/progress.js';
import {
  choice,
  DATA_OPTION,
  helpRequested,
  output,
  parseOptions,
  refuseInapplicable,
  str,
} from '../args.js';

export const OPTIONS = {
  dataset: choice([...DATASET_NAMES, 'all'] as const, { default: 'all' }),
  mirror: str({ help: 'fetch only: base URL the file names are appended to' }),
  ...DATA_OPTION,
} as const;

const HELP = `usage: robustlab data fetch [--dataset D|all] [--mirror URL] [--data-dir DIR]
       robustlab data verify [--dataset D|all] [--data-dir DIR]

fetch   download the four gzip'd IDX files from a public mirror into DIR/<dataset>/ (default
        $ROBUSTLAB_DATA, else ~/.cache/robustlab/datasets), verify each SHA-256 before it is
        moved into place; files already present and correct are kept. --mirror (or
        $ROBUSTLAB_MIRROR) is a base URL the file names are appended to.
verify  check SHA-256 and parse every file of a data directory.
--dataset defaults to all (mnist and fashion-mnist).
common: --json --quiet --help`;

function datasets(v: DatasetName | 'all'): DatasetName[] {
  return v === 'all' ? [...DATASET_NAMES] : [v];
}

export async function run(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (!what || what === '--help' || what === '-h') {
    process.stdout.write(HELP + '\n');
    return;
  }
  if (what !== 'fetch' && what !== 'verify')
    throw new RobustlabError(`unknown data command '${what}' (expected fetch or verify)`);
  const { values: v, given } = parseOptions(rest, OPTIONS, { command: `data ${what}` });
  if (helpRequested(v, HELP)) return;
  if (what === 'verify') refuseInapplicable(given, ['mirror'], 'to data verify (fetch only)');
  if (what === 'fetch') {
    const results: { dataset: string; dir: string }[] = [];
    for (const name of datasets(v.dataset)) {
      const bars = new Map<string, Progress>();
      const dir = await fetchDataset(name, {
        dataDir: v['data-dir'],
        mirror: v.mirror,
        onProgress: (file, bytes, total) => {
          let bar = bars.get(file);
          if (!bar) {
            bar = new Progress({
              label: file,
              total: total ?? 0,
              unit: 'B',
              silent: v.quiet,
            });
            bars.set(file, bar);
          }
          bar.set(bytes);
        },
      });
      for (const b of bars.values()) b.finish();
      results.push({ dataset: name, dir });
    }
    output(v.json, { command: 'data fetch', results }, () =>
      results.map((r) => `${r.dataset}: verified files in ${r.dir}`).join('\n'),
    );
    return;
  }
  if (what === 'verify') {
    const all: {
      dataset: string;
      dir: string;
      files: Awaited<ReturnType<typeof verifyDataDir>>;
    }[] = [];
    for (const name of datasets(v.dataset)) {
      let dir: string;
      try {
        dir = locateDataDir(name, { dataDir: v['data-dir'] });
      } catch {
        dir = dataRoot({ dataDir: v['data-dir'] });
      }
      all.push({ dataset: name, dir, files: await verifyDataDir(name, dir) });
    }
    const ok = all.every((d) => d.files.every((f) => f.ok));
    output(v.json, { command: 'data verify', ok, datasets: all }, () =>
      all
        .flatMap((d) =>
          d.files.map(
            (f) =>
              `${f.ok ? 'ok  ' : 'FAIL'} ${d.dataset} ${f.file}${f.problem ? ': ' + f.problem : ''}`,
          ),
        )
        .join('\n'),
    );
    if (!ok) process.exitCode = 1;
    return;
  }
  throw new RobustlabError(`unknown data command '${what}' (expected fetch or verify)`);
}
