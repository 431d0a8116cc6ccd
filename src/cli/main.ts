/**
 * robustlab command-line entry point: dispatches to one module per command, turns
 * RobustlabErrors (and option errors) into a one-line message and exit code 1.
 */
import { RobustlabError } from '../data/errors.js';
import { VERSION } from '../version.js';
import { describeSystemError } from './system-errors.js';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<void> }>;
}

const COMMANDS: Record<string, Command> = {
  reproduce: {
    summary: 'run the whole study (stages, resume, report)',
    load: () => import('./commands/reproduce.js'),
  },
  sweep: {
    summary: 'the study once per seed, one table of all seeds (mean ± sd)',
    load: () => import('./commands/sweep.js'),
  },
  train: {
    summary: 'train a classifier, an autoencoder or a VAE',
    load: () => import('./commands/train.js'),
  },
  latent: {
    summary: 'build a latent-code dataset (encoding or projection)',
    load: () => import('./commands/latent.js'),
  },
  eval: {
    summary: 'accuracy and confusion matrix of a saved classifier',
    load: () => import('./commands/eval.js'),
  },
  attack: {
    summary: "the study's targeted attack on a saved classifier (robustness)",
    load: () => import('./commands/attack.js'),
  },
  evaluate: {
    summary: 'robust accuracy at ε (AutoAttack or chosen attacks), adaptive, with checks',
    load: () => import('./commands/evaluate.js'),
  },
  svd: {
    summary: 'spectral defence sweep on a saved classifier (Figure 7)',
    load: () => import('./commands/svd.js'),
  },
  figure: {
    summary: 'draw a figure of the study: accuracy, robustness, transfer, examples, svd',
    load: () => import('./commands/figure.js'),
  },
  data: {
    summary: 'fetch or verify the MNIST / Fashion-MNIST files',
    load: () => import('./commands/data.js'),
  },
  info: { summary: 'backend, versions and data found', load: () => import('./commands/info.js') },
  lab: {
    summary: "the browser lab: attack and defend a run's models live",
    load: () => import('./commands/lab.js'),
  },
  worker: {
    summary: 'run stage jobs from a Redis queue (distributed runs)',
    load: () => import('./commands/worker.js'),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    `robustlab ${VERSION}: train, attack, defend and measure the robustness of neural-net classifiers`,
    '',
    'usage: robustlab <command> [options]      (robustlab <command> --help for each)',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    '',
    'Common options: --json (one machine-readable result on stdout), --quiet, --backend wasm|cpu|tensorflow,',
    '  --data-dir DIR (else $ROBUSTLAB_DATA, else ~/.cache/robustlab/datasets)',
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  try {
    if (!name || name === '--help' || name === '-h' || (name === 'help' && !rest.length)) {
      process.stdout.write(usage() + '\n');
      return;
    }
    // `robustlab help <command> [sub]` is `robustlab <command> [sub] --help`.
    if (name === 'help') return await main([...rest, '--help']);
    if (name === '--version' || name === '-v') {
      process.stdout.write(VERSION + '\n');
      return;
    }
    const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!cmd) throw new RobustlabError(`unknown command '${name}' (run robustlab --help)`);
    const mod = await cmd.load();
    await mod.run(rest);
  } catch (e) {
    const err = e as Error;
    const system = describeSystemError(err);
    if (err instanceof RobustlabError || err instanceof RangeError || system) {
      const msg = system ?? err.message;
      process.stderr.write(`robustlab: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
      process.exitCode = 1;
    } else {
      const first = String(err?.message ?? err).split('\n')[0];
      process.stderr.write(`robustlab: internal error: ${first}\n`);
      if (process.env.ROBUSTLAB_DEBUG) process.stderr.write(String(err?.stack) + '\n');
      else process.stderr.write('robustlab: (set ROBUSTLAB_DEBUG=1 for the stack trace)\n');
      process.exitCode = 2;
    }
  }
}
