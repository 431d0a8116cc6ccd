/**
 * The lab's compute worker: loads a run's classifiers with the library's browser entry and
 * answers the page (protocol.ts). The page runs two of these: one for predictions, the defence
 * and the latent view, one for attacks (so "stop" can terminate it without losing the rest).
 */
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import {
  computeSpectra,
  defendSpectral,
  fetchModel,
  hostRowNorms,
  imageClassifierFromParts,
  initBackend,
  isProjection,
  LatentPipelineClassifier,
  observeProgress,
  projectBatch,
  PROJECTION_DEFAULTS,
  type ComposedClassifier,
  type LayerSvd,
  type MlpClassifier,
  wasmThreadCount,
} from '../../src/index.js';
import { attackById } from './attacks.js';
import type { LabModelEntry } from './index-types.js';
import type { Prediction, Reply, Request } from './protocol.js';

interface Loaded extends ComposedClassifier {
  entry: LabModelEntry;
}

const models = new Map<string, Loaded>();
let entries: LabModelEntry[] = [];

const post = (r: Reply, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(r, transfer);

function projectionOpts(e: LabModelEntry) {
  return {
    steps: e.projection?.steps ?? PROJECTION_DEFAULTS.steps,
    lr: e.projection?.lr ?? PROJECTION_DEFAULTS.lr,
    norm: (e.projection?.norm as 'l2' | 'l1' | undefined) ?? PROJECTION_DEFAULTS.norm,
  };
}

async function load(e: LabModelEntry): Promise<Loaded> {
  const have = models.get(e.id);
  if (have) return have;
  const { meta, parts } = await fetchModel(e.url);
  const c = imageClassifierFromParts(meta, parts, { seed: 0, ...projectionOpts(e) });
  const m = { ...c, entry: e };
  models.set(e.id, m);
  return m;
}

/** The input of a model's head for images x [n, 784]: x itself, or the space's codes. */
function headInput(m: Loaded, x: tf.Tensor2D): tf.Tensor2D {
  if (!(m.classifier instanceof LatentPipelineClassifier)) return tf.clone(x);
  return m.classifier.code(x);
}

function predictAll(x: Float32Array): Prediction[] {
  const out: Prediction[] = [];
  const xt = tf.tensor2d(x, [1, 784]);
  // One code per space (the three heads of a space share its generator and projection).
  const bySpace = new Map<string, Loaded[]>();
  for (const m of models.values()) {
    const list = bySpace.get(m.entry.space) ?? [];
    list.push(m);
    bySpace.set(m.entry.space, list);
  }
  for (const list of bySpace.values()) {
    const code = headInput(list[0], xt);
    for (const m of list) {
      const p = tf.tidy(() => tf.softmax(m.head.logits(code)));
      const probs = Array.from(p.dataSync());
      p.dispose();
      out.push({ id: m.entry.id, probs, label: probs.indexOf(Math.max(...probs)) });
    }
    code.dispose();
  }
  xt.dispose();
  const order = entries.map((e) => e.id);
  return out.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
}

// --- the spectral defence ---------------------------------------------------------------
let defence: {
  model: string;
  spectra: LayerSvd[];
  codes: tf.Tensor2D;
  y: Int32Array;
  n: number;
  adv: { key: string; code: tf.Tensor2D } | null;
} | null = null;

function checksum(a: Float32Array): string {
  let h = 0;
  for (let i = 0; i < a.length; i++) h = (h * 31 + Math.round(a[i] * 1e6)) | 0;
  return `${a.length}:${h}`;
}

function codesInBatches(m: Loaded, x: Float32Array, n: number): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  for (let s = 0; s < n; s += 100) {
    const e = Math.min(n, s + 100);
    const xb = tf.tensor2d(x.subarray(s * 784, e * 784), [e - s, 784]);
    parts.push(headInput(m, xb));
    xb.dispose();
  }
  const all = tf.concat(parts) as tf.Tensor2D;
  tf.dispose(parts);
  return all;
}

function accuracyOf(head: MlpClassifier, codes: tf.Tensor2D, y: Int32Array, n: number): number {
  const pred = tf.tidy(() => tf.argMax(head.logits(codes), 1));
  const labels = pred.dataSync();
  pred.dispose();
  let ok = 0;
  for (let i = 0; i < n; i++) if (labels[i] === y[i]) ok++;
  return ok / n;
}

async function handle(msg: Request): Promise<void> {
  switch (msg.type) {
    case 'init': {
      await initBackend({
        backend: 'wasm',
        threads: msg.threads,
        wasmPaths: {
          'tfjs-backend-wasm.wasm': wasmPlain,
          'tfjs-backend-wasm-simd.wasm': wasmSimd,
          'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
        },
      });
      entries = msg.index.datasets[msg.dataset]?.models ?? [];
      const failed: string[] = [];
      for (const e of entries) {
        try {
          await load(e);
        } catch (err) {
          failed.push(`${e.id}: ${(err as Error).message}`);
        }
      }
      post({
        type: 'ready',
        backend: tf.getBackend(),
        threads: wasmThreadCount(),
        models: entries.filter((e) => models.has(e.id)),
        failed,
      });
      return;
    }
    case 'predictAll':
      post({ type: 'predictions', predictions: predictAll(msg.x) });
      return;
    case 'attack': {
      const m = models.get(msg.model);
      if (!m) throw new Error(`model ${msg.model} is not loaded`);
      const a = attackById(msg.params.attack);
      const targeted = msg.params.goal !== null;
      // Projection spaces: the attack differentiates through the projection's implicit
      // gradient, as the reproduce run's pixel-space attacks do.
      let clf = m.classifier;
      let own: LatentPipelineClassifier | null = null;
      if (m.method && isProjection(m.method) && m.generator) {
        own = new LatentPipelineClassifier(m.head, m.generator, m.method, {
          seed: 0,
          ...projectionOpts(m.entry),
          projectionGradient: 'implicit',
        });
        clf = own;
      }
      let last = 0;
      observeProgress((e) => {
        const now = performance.now();
        if (now - last < 50 && e.done < e.total) return;
        last = now;
        post({ type: 'progress', done: e.done, total: e.total, extra: e.extra });
      }, 0);
      const labels = new Int32Array(msg.n).fill(targeted ? msg.params.goal! : msg.params.label);
      const t0 = performance.now();
      try {
        const r = a.run(clf, msg.x, msg.n, labels, targeted, msg.params.values);
        const seconds = (performance.now() - t0) / 1000;
        const l2 = hostRowNorms(r.xAdv, msg.x, msg.n, 784, 'l2');
        const linf = hostRowNorms(r.xAdv, msg.x, msg.n, 784, 'linf');
        post(
          {
            type: 'attacked',
            xAdv: r.xAdv,
            success: Array.from(r.success, (s) => s === 1),
            steps: Array.from(r.steps),
            finalLabel: Array.from(r.finalLabel),
            goalProb: Array.from(r.goalProb),
            l2: Array.from(l2),
            linf: Array.from(linf),
            seconds,
          },
          [r.xAdv.buffer],
        );
      } finally {
        observeProgress(null);
        own?.release(); // shares head and generator with the loaded model: release, not dispose
      }
      return;
    }
    case 'defendInit': {
      const m = models.get(msg.model);
      if (!m) throw new Error(`model ${msg.model} is not loaded`);
      const t0 = performance.now();
      if (defence) {
        tf.dispose([defence.codes, ...(defence.adv ? [defence.adv.code] : [])]);
        defence = null;
      }
      const spectra = computeSpectra(m.head.net);
      const codes = codesInBatches(m, msg.x, msg.n);
      defence = { model: msg.model, spectra, codes, y: msg.y, n: msg.n, adv: null };
      post({
        type: 'defendReady',
        model: msg.model,
        accuracy: accuracyOf(m.head, codes, msg.y, msg.n),
        n: msg.n,
        seconds: (performance.now() - t0) / 1000,
      });
      return;
    }
    case 'defend': {
      const m = models.get(msg.model);
      if (!m || !defence || defence.model !== msg.model)
        throw new Error('the defence is not initialised for this model');
      const defended = defendSpectral(
        m.head,
        { mode: msg.mode, fraction: msg.fraction },
        defence.spectra,
      );
      try {
        const accuracy = accuracyOf(defended, defence.codes, defence.y, defence.n);
        let label: number | null = null;
        let probs: number[] | null = null;
        if (msg.xAdv) {
          const key = checksum(msg.xAdv);
          if (defence.adv?.key !== key) {
            if (defence.adv) defence.adv.code.dispose();
            const xt = tf.tensor2d(msg.xAdv, [1, 784]);
            defence.adv = { key, code: headInput(m, xt) };
            xt.dispose();
          }
          const p = tf.tidy(() => tf.softmax(defended.logits(defence!.adv!.code)));
          probs = Array.from(p.dataSync());
          p.dispose();
          label = probs.indexOf(Math.max(...probs));
        }
        post({ type: 'defended', accuracy, n: defence.n, label, probs });
      } finally {
        defended.dispose();
      }
      return;
    }
    case 'latent': {
      const xt = tf.tensor2d(msg.x, [1, 784]);
      const images: { name: string; x: Float32Array }[] = [];
      for (const kind of ['ae', 'vae'] as const) {
        const enc = [...models.values()].find((m) => m.generator?.kind === kind);
        if (!enc?.generator) continue;
        const gen = enc.generator;
        const projEntry = entries.find((e) => e.space === `${kind}-projection`) ?? enc.entry;
        const byEncoding = tf.tidy(() => gen.decode(gen.encodeMean(xt)));
        const byProjection = tf.tidy(() =>
          gen.decode(projectBatch(gen.decoder, xt, { ...projectionOpts(projEntry), seed: 0 })),
        );
        images.push({ name: `${kind}-encoding`, x: byEncoding.dataSync() as Float32Array });
        images.push({ name: `${kind}-projection`, x: byProjection.dataSync() as Float32Array });
        tf.dispose([byEncoding, byProjection]);
      }
      xt.dispose();
      post({ type: 'latent', images });
      return;
    }
  }
}

// One message at a time, in order (the page awaits each reply).
let queue = Promise.resolve();
self.onmessage = (ev: MessageEvent<Request>) => {
  queue = queue.then(() =>
    handle(ev.data).catch((e) =>
      post({ type: 'error', message: String((e as Error)?.message ?? e) }),
    ),
  );
};
