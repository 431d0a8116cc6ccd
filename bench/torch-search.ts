/**
 * PyTorch at its best thread setting, found cheaply (issue 17). Debian's torch runs element-wise
 * ops on OpenMP threads and matmuls on OpenBLAS's own pool; at 2 / 2 on 2 cores the two
 * oversubscribe (a 1L epoch 1.17 s at 2/2, 0.30 s at 1/2). Timing every stage in full under
 * every setting cost over 7 minutes, most of it in the slow 2/2 setting. Instead: a short probe
 * per setting (each stage at a fraction of its work, or one short stage standing for a whole
 * script), then the full timing of each stage in its winning setting only.
 */
import { spawnSync } from 'node:child_process';

export interface TorchConfig {
  label: string;
  env: Record<string, string>;
}

export const TORCH_CONFIGS: TorchConfig[] = [
  { label: 'torch 1 / BLAS 1', env: { TORCH_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } },
  { label: 'torch 1 / BLAS 2', env: { TORCH_THREADS: '1', OPENBLAS_NUM_THREADS: '2' } },
  { label: 'torch 2 / BLAS 1', env: { TORCH_THREADS: '2', OPENBLAS_NUM_THREADS: '1' } },
  { label: 'torch 2 / BLAS 2', env: { TORCH_THREADS: '2', OPENBLAS_NUM_THREADS: '2' } },
];

/** What a bench script prints: stage seconds, or (probe mode) one probe time for all stages. */
export interface TorchOut {
  torch: string;
  seconds?: Record<string, number>;
  probe?: number;
  robust?: Record<string, number>;
}

/** Debian's python3-torch lives under /usr/bin/python3, which a pyenv `python3` may shadow. */
export function findTorchPython(): string | undefined {
  return ['python3', '/usr/bin/python3'].find(
    (p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0,
  );
}

export function runTorch(
  python: string,
  args: string[],
  c: TorchConfig,
  log: (s: string) => void,
): TorchOut | null {
  const r = spawnSync(python, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: { ...process.env, OMP_NUM_THREADS: c.env.TORCH_THREADS, ...c.env },
  });
  if (r.status !== 0) {
    log(`PyTorch (${args[0]}, ${c.label}) failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TorchOut;
}

export interface TorchBest {
  torch: string;
  seconds: Record<string, number>;
  config: Record<string, string>;
  robust: Record<string, number>;
  /** Probe seconds per setting and stage (stage '*' = one probe for the whole script). */
  probes: Record<string, Record<string, number>>;
}

/**
 * `script` is called as `script repeats only [...args]` for timing and
 * `script 1 '' [...args] ...probeArgs` for the probe. Each stage is timed in full once, in the
 * setting whose probe was fastest for it.
 */
export function torchBest(
  python: string,
  script: string,
  stages: string[],
  repeats: number,
  args: string[],
  probeArgs: string[],
  log: (s: string) => void,
  configs: TorchConfig[] = TORCH_CONFIGS,
): TorchBest | null {
  const probes: Record<string, Record<string, number>> = {};
  let version: string | null = null;
  const winner: Record<string, TorchConfig> = {};
  const best: Record<string, number> = {};
  for (const c of configs) {
    log(`  probing ${script} at ${c.label}...`);
    const out = runTorch(python, [script, '1', '', ...args, ...probeArgs], c, log);
    if (!out) continue;
    version ??= out.torch;
    probes[c.label] = out.probe !== undefined ? { '*': out.probe } : (out.seconds ?? {});
    for (const s of stages) {
      const t = out.probe ?? out.seconds?.[s];
      if (t !== undefined && !(t >= best[s])) {
        best[s] = t;
        winner[s] = c;
      }
    }
  }
  if (!version) return null;
  const res: TorchBest = { torch: version, seconds: {}, config: {}, robust: {}, probes };
  for (const c of configs) {
    const mine = stages.filter((s) => winner[s] === c);
    if (mine.length === 0) continue;
    log(`  timing ${mine.length} stage(s) of ${script} at ${c.label}...`);
    const out = runTorch(python, [script, String(repeats), mine.join('|'), ...args], c, log);
    for (const s of mine) {
      const t = out?.seconds?.[s];
      if (t === undefined) continue;
      res.seconds[s] = t;
      res.config[s] = c.label;
      if (out?.robust?.[s] !== undefined) res.robust[s] = out.robust[s];
    }
  }
  return res;
}
