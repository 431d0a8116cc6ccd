/**
 * robustlab/node: everything in `robustlab` plus the Node-only parts: data files on disk
 * (locate, load, fetch, verify), the native OpenBLAS backend (`initBackend` here loads it),
 * model directories on disk, latent-code datasets, the experiment jobs, the reproduce
 * pipeline and the PNG rasteriser. See docs/api.md.
 */
export * from './index.js';
// Overrides the core's initBackend: the same options, plus the native addon when it was built.
export { initBackend } from './backend/backend.js';
export { nativeMatmulStatus, setBlasThreads } from './backend/native-matmul.js';
export type { NativeMatmulStatus } from './backend/native-matmul.js';

// Data files
export {
  cacheDataRoot,
  dataRoot,
  fetchDataset,
  loadDataset,
  locateDataDir,
  readIdxFile,
  verifyDataDir,
} from './data/node-io.js';
export type { FetchOptions, LoadOptions, VerifyResult } from './data/node-io.js';

// Model directories
export { loadModel, readModelMeta, saveModel } from './models/io.js';
export { loadClassifierDir } from './experiments/model-store.js';
export type { LoadedClassifier } from './experiments/model-store.js';

// Latent-code datasets and generators on disk
export { buildLatentDataset, loadGenerator, runTrainGenerator } from './latent/jobs.js';
export type { GeneratorJob, LatentJob } from './latent/jobs.js';

// Experiment jobs and the reproduce pipeline
export { loadSpaceData, LATENT_SPACES, SPACES, parseSpace } from './experiments/spaces.js';
export type { SpaceData, SpaceDataOptions } from './experiments/spaces.js';
export { runTrainClassifier } from './experiments/classifier-job.js';
export type { TrainClassifierJob, TrainClassifierResult } from './experiments/classifier-job.js';
export { ATTACK_MODES, runAttackJob } from './experiments/attack-job.js';
export type { AttackJob, AttackMode, AttackRecord } from './experiments/attack-job.js';
export { parseFractions, runSvdJob } from './experiments/svd-job.js';
export type { SvdJob, SvdPoint } from './experiments/svd-job.js';
export { transferAccuracy } from './experiments/transfer-job.js';
export { PRESETS } from './experiments/presets.js';
export type { Preset } from './experiments/presets.js';
export { reproduce } from './experiments/reproduce.js';
export type { ReproduceOptions } from './experiments/reproduce.js';

// Figures to PNG files, the study report
export { svgToPng, writeFigure } from './report/render.js';
export type { SvgToPngOptions } from './report/render.js';
export { writeStudyReport } from './report/study-report.js';
export { writeFileAtomic, writeJsonAtomic } from './util/atomic.js';
