/**
 * Several classifiers trained at once (issue 17 item 2), measured two ways:
 *   epochs  seconds per epoch of the study's three heads (1L, 2L, LRL, h = 256) on one dataset
 *           of 60k rows: one after the other with the JS row gather (the trainer before
 *           gatherRows), one after the other, and together (trainClassifiers), at each BLAS
 *           thread count (the pipeline's workers run 1, a lone process 2)
 *   gemm    the "one product instead of three" the heads could share (their first layers have
 *           the same input batch): X·[W₁|W₂|W₃] and Xᵀ·[Δ₁|Δ₂|Δ₃] against the three separate
 *           products, time and whether every output is bit-equal, for OpenBLAS's kernel set of
 *           this process (ROBUSTLAB_BLAS_CORETYPE=Haswell etc. picks another one)
 *   schedule  a measured run's wall clock re-simulated with the heads as one job each
 * Min and median of --repeats runs after a warm-up.
 */
import { nativeLoops } from '../src/backend/host-kernels.js';
import { loadNativeMatmul, setBlasThreads } from '../src/backend/native-matmul.js';
import { ARCHS, classifierSpec, MlpClassifier } from '../src/models/classifier.js';
import { fitClassifierNative, nativeFitLoops } from '../src/models/native-fit.js';
import { trainClassifiers } from '../src/models/train.js';
import { simulateSchedule, type SimStage } from '../src/experiments/schedule-sim.js';
import { splitStageName } from '../src/experiments/stages.js';
import { Rng } from '../src/util/rng.js';
import { time } from './util.js';

export interface BatchEpochRow {
  dim: number;
  threads: number;
  mode: 'one at a time, JS gather' | 'one at a time' | 'batched' | 'sgemm calls only';
  min: number;
  median: number;
  /** The heads' matmul work (forward, weight and hidden-layer gradients) per second at min. */
  gflops: number;
}

export interface GemmRow {
  dim: number;
  threads: number;
  product: 'X·W' | 'Xᵀ·Δ' | 'ones·Δ';
  separateMs: number;
  concatenatedMs: number;
  /** Outputs of the concatenated product that differ from the separate ones' (of all). */
  differ: number;
  of: number;
}

const N = 60000;
const B = 1000;
const H = 256;

function randomData(rng: Rng, n: number, dim: number) {
  const x = Float32Array.from({ length: n * dim }, () => rng.next() * 2 - 1);
  const y = Int32Array.from({ length: n }, () => rng.int(10));
  return { x, y, n, dim };
}

const summary = (runs: number[]) => {
  const s = [...runs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)] };
};

/** Seconds per epoch of the three heads, each way, at each thread count. */
export function benchBatchEpochs(o: {
  dims: number[];
  threads: number[];
  repeats: number;
}): BatchEpochRow[] {
  const loops = nativeLoops();
  if (!loops?.sgemm || !loops.adam) return [];
  const rows: BatchEpochRow[] = [];
  const before = loadNativeMatmul()!.getNumThreads();
  try {
    for (const dim of o.dims) {
      const data = randomData(new Rng(dim), N, dim);
      const fit = { epochs: 1, seed: 0, batchSize: B, lr: 1e-3, silent: true };
      const heads = () => ARCHS.map((a) => MlpClassifier.create(a, dim, { seed: 0, hidden: H }));
      const modes: [BatchEpochRow['mode'], () => void][] = [
        [
          'one at a time, JS gather',
          () => {
            for (const c of heads()) {
              const older = { ...nativeFitLoops(c.net)!, gatherRows: undefined };
              fitClassifierNative(c.net, older, data, fit);
              c.dispose();
            }
          },
        ],
        [
          'one at a time',
          () => {
            for (const c of heads()) {
              fitClassifierNative(c.net, nativeFitLoops(c.net)!, data, fit);
              c.dispose();
            }
          },
        ],
        [
          'batched',
          () => {
            const cs = heads();
            trainClassifiers(cs, data, fit);
            cs.forEach((c) => c.dispose());
          },
        ],
      ];
      modes.push(['sgemm calls only', sgemmOnly(dim)]);
      for (const threads of o.threads) {
        setBlasThreads(threads);
        for (const [mode, run] of modes) {
          const t = time(run, { warmup: 1, repeats: o.repeats });
          const st = summary(t.runs);
          rows.push({ dim, threads, mode, ...st, gflops: headsFlops(dim) / st.min / 1e9 });
        }
      }
    }
  } finally {
    setBlasThreads(before);
  }
  return rows;
}

/**
 * An epoch of the three heads' sgemm calls alone (the shapes and order of native-fit.ts's step,
 * on dummy operands): the floor that sharing data between the heads cannot lower.
 */
/** Matmul FLOPs of one epoch of the three heads: what the trainer multiplies (no input gradient). */
function headsFlops(dim: number): number {
  let f = 0;
  for (const arch of ARCHS) {
    const d = [dim, ...classifierSpec(arch, dim, H).layers.map((l) => l.units)];
    for (let i = 0; i + 1 < d.length; i++) f += (i === 0 ? 4 : 6) * B * d[i] * d[i + 1];
  }
  return f * (N / B);
}

function sgemmOnly(dim: number): () => void {
  const sgemm = nativeLoops()!.sgemm!;
  const size = B * Math.max(dim, H);
  const a = new Float32Array(size).fill(0.5);
  const b = new Float32Array(size).fill(0.25);
  const c = new Float32Array(size);
  const bias = new Float32Array(H);
  const ones = new Float32Array(B).fill(1);
  const dims = ARCHS.map((arch) => [
    dim,
    ...classifierSpec(arch, dim, H).layers.map((l) => l.units),
  ]);
  return () => {
    for (let s = 0; s < N; s += B)
      for (const d of dims) {
        const L = d.length - 1;
        for (let i = 0; i < L; i++)
          sgemm(
            false,
            false,
            B,
            d[i + 1],
            d[i],
            a,
            b,
            c,
            null,
            null,
            null,
            null,
            bias.subarray(0, d[i + 1]),
            0,
          );
        for (let i = L - 1; i >= 0; i--) {
          sgemm(true, false, d[i], d[i + 1], B, a, b, c);
          sgemm(false, false, 1, d[i + 1], B, ones, b, c);
          if (i > 0) sgemm(false, true, B, d[i], d[i + 1], b, a, c);
        }
      }
  };
}

/** The heads' shared first-layer products, concatenated vs separate (see the header). */
export function benchFirstLayerGemm(o: { dims: number[]; threads: number[] }): GemmRow[] {
  const loops = nativeLoops();
  const sgemm = loops?.sgemm;
  if (!sgemm) return [];
  const rows: GemmRow[] = [];
  const before = loadNativeMatmul()!.getNumThreads();
  const rng = new Rng(3);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  // a model's [rows, H] block inside the [rows, 3H] concatenation, and back
  const concat = (parts: Float32Array[], rows: number) => {
    const out = new Float32Array(rows * 3 * H);
    parts.forEach((p, m) => {
      for (let r = 0; r < rows; r++) out.set(p.subarray(r * H, (r + 1) * H), r * 3 * H + m * H);
    });
    return out;
  };
  const countDiffer = (parts: Float32Array[], cat: Float32Array, rows: number) => {
    let d = 0;
    parts.forEach((p, m) => {
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < H; c++) if (p[r * H + c] !== cat[r * 3 * H + m * H + c]) d++;
    });
    return d;
  };
  const ms = (f: () => void) => {
    for (let i = 0; i < 5; i++) f();
    const t = time(
      () => {
        for (let i = 0; i < 20; i++) f();
      },
      { warmup: 0, repeats: 5 },
    );
    return (Math.min(...t.runs) / 20) * 1000;
  };
  try {
    for (const dim of o.dims) {
      const x = rand(B * dim);
      const ws = [0, 1, 2].map(() => rand(dim * H));
      const bs = [0, 1, 2].map(() => rand(H));
      const deltas = [0, 1, 2].map(() => rand(B * H));
      const wCat = concat(ws, dim);
      const bCat = Float32Array.from({ length: 3 * H }, (_, i) => bs[Math.floor(i / H)][i % H]);
      const dCat = concat(deltas, B);
      for (const threads of o.threads) {
        setBlasThreads(threads);
        // forward with the bias, as the trainer calls it
        const ys = ws.map(() => new Float32Array(B * H));
        const yCat = new Float32Array(B * 3 * H);
        const fSep = () =>
          ws.forEach((w, m) =>
            sgemm(false, false, B, H, dim, x, w, ys[m], null, null, null, null, bs[m], 0),
          );
        const fCat = () =>
          sgemm(false, false, B, 3 * H, dim, x, wCat, yCat, null, null, null, null, bCat, 0);
        const fw = { separateMs: ms(fSep), concatenatedMs: ms(fCat) };
        rows.push({
          dim,
          threads,
          product: 'X·W',
          ...fw,
          differ: countDiffer(ys, yCat, B),
          of: B * 3 * H,
        });
        // the weight gradient of the first layer
        const gs = ws.map(() => new Float32Array(dim * H));
        const gCat = new Float32Array(dim * 3 * H);
        const bSep = () => deltas.forEach((d, m) => sgemm(true, false, dim, H, B, x, d, gs[m]));
        const bCatF = () => sgemm(true, false, dim, 3 * H, B, x, dCat, gCat);
        const bw = { separateMs: ms(bSep), concatenatedMs: ms(bCatF) };
        rows.push({
          dim,
          threads,
          product: 'Xᵀ·Δ',
          ...bw,
          differ: countDiffer(gs, gCat, dim),
          of: dim * 3 * H,
        });
        // and its bias gradient (a 1-row product, as the trainer forms it)
        const ones = new Float32Array(B).fill(1);
        const dbs = ws.map(() => new Float32Array(H));
        const dbCat = new Float32Array(3 * H);
        const sSep = () => deltas.forEach((d, m) => sgemm(false, false, 1, H, B, ones, d, dbs[m]));
        const sCat = () => sgemm(false, false, 1, 3 * H, B, ones, dCat, dbCat);
        const sb = { separateMs: ms(sSep), concatenatedMs: ms(sCat) };
        rows.push({
          dim,
          threads,
          product: 'ones·Δ',
          ...sb,
          differ: countDiffer(dbs, dbCat, 1),
          of: 3 * H,
        });
      }
    }
  } finally {
    setBlasThreads(before);
  }
  return rows;
}

export interface GroupingRow {
  slots: number;
  /** Wall clock of the stage graph with every classifier its own stage (list scheduling). */
  separate: number;
  /** The same with each seed's three latent heads on one code dataset as one job. */
  grouped: number;
  criticalPath: { separate: number; grouped: number };
}

/**
 * What running each code dataset's three heads as one job would do to a run's wall clock:
 * the executor's list scheduling (schedule-sim.ts) of a measured run's stage seconds, with the
 * heads separate, and merged into one job costing `factor` × their sum (the batched / one at a
 * time ratio measured above). On few slots the run is bound by its work, on many by its
 * critical path, which a merged job lengthens.
 */
export function simulateGrouping(
  stages: SimStage[],
  factor: number,
  slots: number[],
): GroupingRow[] {
  const groupOf = new Map<string, string>();
  for (const s of stages) {
    const { base, seed } = splitStageName(s.name);
    const [kind, dataset, space] = base.split('/');
    if (kind === 'classifier' && space !== 'image')
      groupOf.set(s.name, `classifiers/${dataset}/${space}/seed${seed}`);
  }
  const merged = new Map<string, SimStage>();
  for (const s of stages) {
    const deps = [...new Set(s.deps.map((d) => groupOf.get(d) ?? d))];
    const g = groupOf.get(s.name);
    if (!g) merged.set(s.name, { ...s, deps });
    else {
      const cur = merged.get(g) ?? { name: g, deps, seconds: 0 };
      cur.seconds += s.seconds * factor;
      merged.set(g, cur);
    }
  }
  return slots.map((n) => {
    const a = simulateSchedule(stages, n);
    const b = simulateSchedule([...merged.values()], n);
    return {
      slots: n,
      separate: a.makespan,
      grouped: b.makespan,
      criticalPath: { separate: a.criticalPath, grouped: b.criticalPath },
    };
  });
}
