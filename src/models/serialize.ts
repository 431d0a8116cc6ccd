/**
 * Models in the tfjs Layers format: each network is a `<part>.json` (a Sequential topology with
 * a weights manifest) plus `<part>.weights.bin`, so a browser can `tf.loadLayersModel` it
 * directly. Browser-safe: works on in-memory artifacts; file access lives in io.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { RobustlabError } from '../data/errors.js';
import { type Activation, LEAKY_RELU_ALPHA, Mlp, type MlpSpec } from './mlp.js';

export interface PartArtifacts {
  /** The model.json object. */
  json: {
    format: string;
    generatedBy: string;
    convertedBy: null;
    modelTopology: unknown;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    userDefinedMetadata?: Record<string, unknown>;
  };
  weights: Uint8Array;
}

function denseActivation(a: Activation): string {
  return a === 'leakyRelu' ? 'linear' : a;
}

/** Build the Sequential topology JSON that tf.loadLayersModel understands. */
function topology(spec: MlpSpec, name: string): unknown {
  const layers: unknown[] = [];
  spec.layers.forEach((l, i) => {
    layers.push({
      class_name: 'Dense',
      config: {
        name: `dense_${i}`,
        units: l.units,
        activation: denseActivation(l.activation),
        use_bias: true,
        trainable: true,
        dtype: 'float32',
        kernel_initializer: { class_name: 'Zeros', config: {} },
        bias_initializer: { class_name: 'Zeros', config: {} },
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
        ...(i === 0 ? { batch_input_shape: [null, spec.inputDim] } : {}),
      },
    });
    if (l.activation === 'leakyRelu') {
      layers.push({
        class_name: 'LeakyReLU',
        config: {
          name: `leaky_re_lu_${i}`,
          alpha: LEAKY_RELU_ALPHA,
          trainable: true,
          dtype: 'float32',
        },
      });
    }
  });
  return {
    class_name: 'Sequential',
    config: { name, layers },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

export function mlpToArtifacts(
  net: Mlp,
  part: string,
  meta: Record<string, unknown>,
): PartArtifacts {
  const data = net.weightsData();
  const weights: tf.io.WeightsManifestEntry[] = [];
  const total = data.reduce((s, d) => s + d.W.length + d.b.length, 0);
  const buf = new Float32Array(total);
  let off = 0;
  let fanIn = net.spec.inputDim;
  net.spec.layers.forEach((l, i) => {
    weights.push({ name: `dense_${i}/kernel`, shape: [fanIn, l.units], dtype: 'float32' });
    buf.set(data[i].W, off);
    off += data[i].W.length;
    weights.push({ name: `dense_${i}/bias`, shape: [l.units], dtype: 'float32' });
    buf.set(data[i].b, off);
    off += data[i].b.length;
    fanIn = l.units;
  });
  return {
    json: {
      format: 'layers-model',
      generatedBy: 'robustlab',
      convertedBy: null,
      modelTopology: topology(net.spec, part),
      weightsManifest: [{ paths: [`${part}.weights.bin`], weights }],
      userDefinedMetadata: { robustlab: { ...meta, part, spec: net.spec } },
    },
    weights: new Uint8Array(buf.buffer),
  };
}

function isSpec(s: unknown): s is MlpSpec {
  const o = s as MlpSpec;
  return (
    !!o &&
    typeof o === 'object' &&
    Number.isInteger(o.inputDim) &&
    Array.isArray(o.layers) &&
    o.layers.every(
      (l) =>
        !!l &&
        Number.isInteger(l.units) &&
        ['linear', 'relu', 'leakyRelu', 'sigmoid'].includes(l.activation),
    )
  );
}

const MAX_UNITS = 1 << 16;

/** The Dense units and activations the topology describes, or null if it is not ours. */
function topologyLayers(t: unknown): { units: number; activation: string }[] | null {
  const layers = (t as { config?: { layers?: unknown } })?.config?.layers;
  if (!Array.isArray(layers)) return null;
  const out: { units: number; activation: string }[] = [];
  for (const l of layers) {
    if (l?.class_name === 'Dense')
      out.push({ units: l.config?.units, activation: l.config?.activation });
    else if (l?.class_name === 'LeakyReLU' && out.length)
      out[out.length - 1].activation = 'leakyRelu';
    else return null;
  }
  return out;
}

/**
 * Rebuild an Mlp from artifacts, checking that everything is where and what it should be: the
 * spec is sane, the topology and every weight's shape agree with it, the bytes are all there
 * and every weight is finite.
 */
export function mlpFromArtifacts(a: PartArtifacts, file: string, part?: string): Mlp {
  const meta = a.json.userDefinedMetadata?.robustlab as
    { spec?: unknown; part?: unknown } | undefined;
  if (a.json.format !== 'layers-model' || !meta || !isSpec(meta.spec)) {
    throw new RobustlabError(
      `${file}: not a robustlab model file (missing format or network spec)`,
    );
  }
  const spec = meta.spec;
  const dims = [spec.inputDim, ...spec.layers.map((l) => l.units)];
  if (!spec.layers.length || dims.some((d) => d < 1 || d > MAX_UNITS))
    throw new RobustlabError(`${file}: network spec has a layer of impossible size`);
  if (part !== undefined && meta.part !== undefined && meta.part !== part)
    throw new RobustlabError(`${file}: holds part '${String(meta.part)}', not '${part}'`);
  const topo = topologyLayers(a.json.modelTopology);
  if (
    !topo ||
    topo.length !== spec.layers.length ||
    topo.some(
      (l, i) => l.units !== spec.layers[i].units || l.activation !== spec.layers[i].activation,
    )
  )
    throw new RobustlabError(`${file}: the layer topology disagrees with the network spec`);
  const entries = a.json.weightsManifest.flatMap((g) =>
    Array.isArray(g?.weights) ? g.weights : [],
  );
  // Every weight must have exactly the shape the spec gives it: [fanIn, units] and [units].
  const expected = new Map<string, number[]>();
  spec.layers.forEach((l, i) => {
    expected.set(`dense_${i}/kernel`, [dims[i], l.units]);
    expected.set(`dense_${i}/bias`, [l.units]);
  });
  if (entries.length !== expected.size)
    throw new RobustlabError(
      `${file}: the manifest lists ${entries.length} weights, the spec needs ${expected.size}`,
    );
  for (const e of entries) {
    const want = expected.get(e?.name);
    if (!want || !Array.isArray(e.shape) || JSON.stringify(e.shape) !== JSON.stringify(want))
      throw new RobustlabError(
        `${file}: weight ${JSON.stringify(e?.name)} has shape ${JSON.stringify(e?.shape)}, the spec needs ${JSON.stringify(want ?? 'no such weight')}`,
      );
  }
  const expectedFloats = entries.reduce((s, e) => s + e.shape.reduce((p, d) => p * d, 1), 0);
  if (a.weights.byteLength !== expectedFloats * 4) {
    throw new RobustlabError(
      `${file}: weights file has ${a.weights.byteLength} bytes, expected ${expectedFloats * 4} (truncated or damaged)`,
    );
  }
  const floats = new Float32Array(a.weights.slice().buffer);
  const byName = new Map<string, Float32Array>();
  let off = 0;
  for (const e of entries) {
    if (e.dtype !== 'float32')
      throw new RobustlabError(`${file}: unsupported weight dtype ${e.dtype}`);
    const size = e.shape.reduce((p, d) => p * d, 1);
    byName.set(e.name, floats.subarray(off, off + size));
    off += size;
  }
  for (let i = 0; i < floats.length; i++) {
    if (!Number.isFinite(floats[i]))
      throw new RobustlabError(`${file}: weights contain NaN or Infinity`);
  }
  const weights = spec.layers.map((_, i) => {
    const W = byName.get(`dense_${i}/kernel`);
    const b = byName.get(`dense_${i}/bias`);
    if (!W || !b) throw new RobustlabError(`${file}: weights for layer ${i} are missing`);
    return { W, b };
  });
  try {
    return Mlp.fromWeights(spec, weights);
  } catch (e) {
    throw new RobustlabError(`${file}: ${(e as Error).message}`);
  }
}
