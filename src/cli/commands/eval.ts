import { initBackend } from '../../backend/backend.js';
import { parseDatasetName } from '../../data/datasets.js';
import { evaluate } from '../../models/classifier.js';
import { loadClassifierDir } from '../../experiments/model-store.js';
import { loadSpaceData } from '../../experiments/spaces.js';
import {
  BACKEND_OPTION,
  DATA_OPTION,
  helpRequested,
  LIMITS,
  limits,
  output,
  parseOptions,
  path,
  refuseInapplicable,
  required,
} from '../args.js';

export const OPTIONS = {
  model: path({ help: "a directory written by 'robustlab train classifier' (required)" }),
  'latent-dir': path({ help: 'latent classifiers: where the code datasets are' }),
  ...LIMITS,
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

const HELP = `usage: robustlab eval --model DIR [options]

Train and test accuracy of a saved classifier, and its test confusion matrix (rows: true class,
columns: predicted). A latent classifier is evaluated on its code dataset.

options:
  --model DIR        a directory written by 'robustlab train classifier'   (required)
  --limit-train N, --limit-test N   evaluate on the first N examples only
  --latent-dir DIR   for latent classifiers: where the code datasets are
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v, given } = parseOptions(argv, OPTIONS, { command: 'eval' });
  if (helpRequested(v, HELP)) return;
  const dir = required('model', v.model);
  await initBackend({ backend: v.backend });
  const { meta, head } = loadClassifierDir(dir);
  try {
    if (meta.space === 'image')
      refuseInapplicable(given, ['latent-dir'], `to an image-space classifier (${dir})`);
    const data = await loadSpaceData(parseDatasetName(meta.dataset), meta.space, {
      dataDir: v['data-dir'],
      latentDir: v['latent-dir'],
      ...limits(v),
    });
    const train = evaluate(head, data.train.x, data.train.y, data.train.n);
    const test = evaluate(head, data.test.x, data.test.y, data.test.n);
    data.dispose();
    const result = {
      command: 'eval',
      model: dir,
      dataset: meta.dataset,
      space: meta.space,
      arch: meta.arch,
      trainAccuracy: train.accuracy,
      testAccuracy: test.accuracy,
      confusion: test.confusion,
    };
    output(v.json, result, () => {
      const lines = [
        `${meta.dataset} ${meta.space} ${meta.arch}: train ${(train.accuracy * 100).toFixed(2)}% (${train.n}), ` +
          `test ${(test.accuracy * 100).toFixed(2)}% (${test.n})`,
        'test confusion matrix (rows true, columns predicted):',
        '      ' + test.confusion.map((_, j) => String(j).padStart(5)).join(''),
        ...test.confusion.map(
          (row, i) => String(i).padStart(5) + ' ' + row.map((c) => String(c).padStart(5)).join(''),
        ),
      ];
      return lines.join('\n');
    });
  } finally {
    head.dispose();
  }
}
