import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/backend.js';
import { isMatmulFixInstalled } from '../../backend/matmul-fix.js';
import { isNativeMatmulInstalled, nativeMatmulStatus } from '../../backend/native-matmul.js';
import { DATASET_NAMES } from '../../data/datasets.js';
import { locateDataDir } from '../../data/node-io.js';
import { VERSION } from '../../version.js';
import { BACKEND_OPTION, DATA_OPTION, helpRequested, output, parseOptions } from '../args.js';

export const OPTIONS = { ...BACKEND_OPTION, ...DATA_OPTION } as const;

const HELP = `usage: robustlab info [--backend B] [--data-dir DIR] [--json]

Prints the tensor backend in use, versions, and where each dataset was found.`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, OPTIONS, { command: 'info' });
  if (helpRequested(v, HELP)) return;
  const backend = await initBackend({ backend: v.backend });
  const data = DATASET_NAMES.map((name) => {
    try {
      return { dataset: name, found: true, dir: locateDataDir(name, { dataDir: v['data-dir'] }) };
    } catch (e) {
      return { dataset: name, found: false, problem: (e as Error).message };
    }
  });
  const info = {
    robustlab: VERSION,
    node: process.version,
    tfjs: tf.version.tfjs,
    backend,
    matmulFix: isMatmulFixInstalled(backend),
    nativeMatmul: isNativeMatmulInstalled(backend),
    nativeMatmulStatus: nativeMatmulStatus(backend),
    wasmSimd: backend === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined,
    data,
  };
  output(v.json, info, () =>
    [
      `robustlab ${VERSION} (node ${process.version}, tfjs ${tf.version.tfjs})`,
      `backend: ${backend}${info.wasmSimd ? ' (SIMD)' : ''}; matmul: ${info.nativeMatmul ? 'native OpenBLAS' : info.matmulFix ? 'wasm with the transposed-matmul fix' : 'wasm'}`,
      ...data.map((d) => (d.found ? `data: ${d.dataset} in ${d.dir}` : `data: ${d.problem}`)),
    ].join('\n'),
  );
}
