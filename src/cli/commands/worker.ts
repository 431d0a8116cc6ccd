import { startQueueWorker, WORKER_DEFAULTS } from '../../experiments/queue-worker.js';
import { helpRequested, intOpt, output, parse, requireOpt } from '../args.js';

const HELP = `usage: robustlab worker --queue redis://HOST:PORT [--concurrency N] [--artifacts DIR]

Takes stage jobs that \`robustlab reproduce --queue\` or \`robustlab sweep --queue\` put on the
queue and runs them with the same code as a local run, writing each stage's output to the shared
artifact directory (atomically; stage.json last). Start any number, on any machine that reaches
Redis and the artifact directory. Stops on Ctrl-C / SIGTERM after its running stages (twice:
at once; those stages go to another worker). See docs/distributed.md.

options:
  --queue URL          redis://HOST:PORT, redis://:PASSWORD@HOST:PORT/DB or rediss://… (TLS)
  --concurrency N      stages at once, one worker thread each (default ${WORKER_DEFAULTS.concurrency}; about one per core)
  --artifacts DIR      the shared artifact directory (the coordinator's --out) as mounted here
                       (default: the coordinator's path, right when every machine mounts it alike)
  --lock-seconds S     a job's lock lasts S s, renewed every S/2 (default ${WORKER_DEFAULTS.lockSeconds})
  --stalled-seconds S  look for jobs whose worker died every S s (default ${WORKER_DEFAULTS.stalledSeconds});
                       a dead worker's stage restarts elsewhere after at most lock + stalled s
  --max-stalled N      times a stage may lose its worker before it fails (default ${WORKER_DEFAULTS.maxStalled})
  --idle-exit S        exit after S s without work (default: run until stopped)
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, {
    queue: { type: 'string' },
    concurrency: { type: 'string' },
    artifacts: { type: 'string' },
    'lock-seconds': { type: 'string' },
    'stalled-seconds': { type: 'string' },
    'max-stalled': { type: 'string' },
    'idle-exit': { type: 'string' },
  });
  if (helpRequested(v, HELP)) return;
  const idleExit = v['idle-exit'] ? intOpt('idle-exit', v['idle-exit'], 0, 1) : undefined;
  const w = await startQueueWorker({
    url: requireOpt('queue', v.queue),
    concurrency: intOpt('concurrency', v.concurrency, WORKER_DEFAULTS.concurrency, 1),
    artifacts: v.artifacts,
    dataDir: v['data-dir'],
    backend: v.backend,
    lockSeconds: intOpt('lock-seconds', v['lock-seconds'], WORKER_DEFAULTS.lockSeconds, 1),
    stalledSeconds: intOpt(
      'stalled-seconds',
      v['stalled-seconds'],
      WORKER_DEFAULTS.stalledSeconds,
      1,
    ),
    maxStalled: intOpt('max-stalled', v['max-stalled'], WORKER_DEFAULTS.maxStalled, 0),
    log: v.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
  });
  const why = await new Promise<string>((done) => {
    let signals = 0;
    const onSignal = (sig: string) => {
      if (++signals > 1) process.exit(130);
      if (!v.quiet)
        process.stderr.write(
          `robustlab worker: ${sig}: finishing running stages (again: stop now)\n`,
        );
      done(sig);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    if (idleExit) {
      const t = setInterval(() => {
        if (w.idleSeconds() >= idleExit) {
          clearInterval(t);
          done('idle');
        }
      }, 1000);
    }
  });
  const s = await w.close();
  output(
    v.json,
    { command: 'worker', stoppedBy: why, ...s },
    () =>
      `worker stopped (${why}): ${s.completed} stages run, ${s.reused} already done, ${s.failed} failed, ${s.rejected} malformed jobs rejected`,
  );
  // A Redis client still trying to reconnect would keep the process alive.
  process.exit(0);
}
