/**
 * robustlab: the browser-safe core (no Node imports reachable from here; a test bundles this
 * file for the browser and fails on any `node:` import). Models, training, latent spaces,
 * attacks, defences, metrics, figures. Node-only parts (data files, the native addon, model
 * directories on disk, the reproduce pipeline) are in `robustlab/node`. See docs/api.md.
 */
export { VERSION } from './version.js';

// Backend
export {
  BACKENDS,
  WASM_FILES,
  initBackend,
  parseBackendName,
  wasmThreadCount,
} from './backend/backend-core.js';
export type { BackendName, BackendOptions, WasmFile } from './backend/backend-core.js';

// Data
export { RobustlabError } from './data/errors.js';
export {
  DATASETS,
  DATASET_NAMES,
  IMAGE_DIM,
  datasetFiles,
  parseDatasetName,
} from './data/datasets.js';
export type { Dataset, DatasetInfo, DatasetName, Split, SplitName } from './data/datasets.js';
export { IMAGE_SIDE, imagesToFloat, parseIdx, validatePair } from './data/idx.js';
export type { IdxArray, IdxKind } from './data/idx.js';
export { datasetFromFiles, gunzipIfNeeded, splitFromIdxBytes } from './data/from-bytes.js';

// Models and training
export { Mlp, LEAKY_RELU_ALPHA } from './models/mlp.js';
export type { Activation, DenseSpec, MlpSpec } from './models/mlp.js';
export {
  ARCHS,
  DEFAULT_HIDDEN,
  MlpClassifier,
  NUM_CLASSES,
  classifierSpec,
  evaluate,
  parseArch,
  predict,
} from './models/classifier.js';
export type { Arch, Classifier, Evaluation } from './models/classifier.js';
export { HostMlp, HostMlpClassifier } from './models/host-mlp.js';
export type { LayerWeights } from './models/host-mlp.js';
export {
  CLASSIFIER_DEFAULTS,
  crossEntropy,
  fit,
  trainClassifier,
  trainClassifiers,
} from './models/train.js';
export type { ClassifierTrainOptions, FitOptions, HostData } from './models/train.js';
export { mlpFromArtifacts, mlpToArtifacts } from './models/serialize.js';
export type { PartArtifacts } from './models/serialize.js';
export type { ModelMeta } from './models/meta.js';
export { fetchModel, loadModelFrom, modelToFiles } from './models/from-files.js';
export type { ModelFileReader } from './models/from-files.js';

// Latent spaces
export {
  GENERATOR_DEFAULTS,
  GENERATOR_KINDS,
  Generator,
  LATENT_DIM,
  parseGeneratorKind,
  reconstructionError,
  trainGenerator,
} from './latent/generators.js';
export type { GeneratorKind } from './latent/generators.js';
export {
  LATENT_METHODS,
  PROJECTION_DEFAULTS,
  computeCodes,
  isProjection,
  methodGenerator,
  parseLatentMethod,
  projectBatch,
} from './latent/codes.js';
export type { CodeOptions, LatentMethod, ProjectionOptions } from './latent/codes.js';
export { LatentPipelineClassifier } from './latent/pipeline.js';
export type { PipelineOptions } from './latent/pipeline.js';
export { imageClassifierFromParts } from './latent/from-parts.js';
export type { ComposedClassifier } from './latent/from-parts.js';

// Attacks
export { DEFAULT_CONFIDENCE, runAttack } from './attacks/base.js';
export type { AttackOptions, AttackResult, StepFn, StepInput, StepOutput } from './attacks/base.js';
export { PIXEL_RANGE, TARGETED_CE_L2_DEFAULTS, targetedCeL2 } from './attacks/targeted-ce-l2.js';
export type { AttackOptimizer, TargetedCeL2Options } from './attacks/targeted-ce-l2.js';
export { BOX, NORMS, hostRowNorms, projectToBall, randomStart, rowNorms } from './attacks/norms.js';
export { pgd, PGD_DEFAULTS } from './attacks/pgd.js';
export type { PgdOptions } from './attacks/pgd.js';
export { fgsm, FGSM_DEFAULTS } from './attacks/fgsm.js';
export { cwL2, CW_L2_DEFAULTS } from './attacks/cw-l2.js';
export type { CwL2Options } from './attacks/cw-l2.js';
export { deepFool, DEEPFOOL_DEFAULTS } from './attacks/deepfool.js';
export type { DeepFoolOptions } from './attacks/deepfool.js';
export { apgd, apgdT, APGD_DEFAULTS } from './attacks/apgd.js';
export type { ApgdOptions, ApgdTOptions } from './attacks/apgd.js';
export { fab, FAB_DEFAULTS } from './attacks/fab.js';
export type { FabOptions } from './attacks/fab.js';
export { square, SQUARE_DEFAULTS } from './attacks/square.js';
export type { SquareOptions } from './attacks/square.js';

// Robustness evaluation (AutoAttack and attack lists)
export { autoAttack, AUTOATTACK_SETTINGS } from './evaluation/autoattack.js';
export { evaluateRobustness } from './evaluation/robust-accuracy.js';
export type { RobustEvaluation } from './evaluation/robust-accuracy.js';
export { AUTOATTACK_LIBRARY, ATTACK_NAMES, attackSpec } from './evaluation/registry.js';
export type { Norm } from './attacks/norms.js';

// Defences
export {
  DEFAULT_SCALE_FACTOR,
  SPECTRAL_MODES,
  bottomCount,
  computeSpectra,
  defendSpectral,
  reconstruct,
  SpectralSweep,
  spectralTransform,
  svd,
} from './defences/spectral.js';
export type {
  LayerSvd,
  SigmaTransform,
  SpectralMode,
  SpectralOptions,
} from './defences/spectral.js';

// Metrics
export {
  DEFAULT_ATTACK_COUNT,
  robustnessSummary,
  selectAttackExamples,
} from './metrics/robustness.js';
export type { AttackExamples, RobustnessSummary, SelectOptions } from './metrics/robustness.js';

// Figures and tables (SVG strings, PNG bytes)
export * from './report/index.js';

// Utilities
export { Rng, deriveSeed } from './util/rng.js';
export { Progress, observeProgress, progressLine } from './util/progress.js';
export type { ProgressEvent, ProgressOptions } from './util/progress.js';
