import { RobustlabError } from '../../data/errors.js';
import { redactUrl } from '../../util/redact-url.js';
import { startQueueWorker, WORKER_DEFAULTS } from '../../experiments/queue-worker.js';
import {
  BACKEND_OPTION,
  DATA_OPTION,
  helpRequested,
  int,
  output,
  parseOptions,
  path,
  required,
  str,
} from '../args.js';

export const OPTIONS = {
  queue: str({ metavar: 'URL', help: 'redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT' }),
  concurrency: int({
    min: 1,
    max: 256,
    default: WORKER_DEFAULTS.concurrency,
    help: 'stages at once',
  }),
  artifacts: path({ help: "the shared artifact directory (the coordinator's --out) as seen here" }),
  'lock-seconds': int({ min: 1, max: 86400, default: WORKER_DEFAULTS.lockSeconds }),
  'stalled-seconds': int({ min: 1, max: 86400, default: WORKER_DEFAULTS.stalledSeconds }),
  'max-stalled': int({ min: 0, max: 1000, default: WORKER_DEFAULTS.maxStalled }),
  'idle-exit': int({ min: 1, max: 10_000_000, help: 'exit after S s without work' }),
  ...BACKEND_OPTION,
  ...DATA_OPTION,
} as const;

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
  env: ROBUSTLAB_REDIS_CA=FILE trusts a private CA for rediss://; ROBUSTLAB_REDIS_PASSWORD
       is the password when the URL has none
common: --json --quiet --backend --data-dir --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parseOptions(argv, OPTIONS, { command: 'worker' });
  if (helpRequested(v, HELP)) return;
  const url = required('queue', v.queue);
  if (!/^rediss?:\/\/[^/]/.test(url))
    throw new RobustlabError(
      `--queue must be a Redis URL, redis://HOST:PORT or rediss://:PASSWORD@HOST:PORT (got '${redactUrl(url)}')`,
    );
  const idleExit = v['idle-exit'];
  let fatal: string | undefined;
  let stop: (why: string) => void = () => {};
  const w = await startQueueWorker({
    url,
    concurrency: v.concurrency,
    artifacts: v.artifacts,
    dataDir: v['data-dir'],
    backend: v.backend,
    lockSeconds: v['lock-seconds'],
    stalledSeconds: v['stalled-seconds'],
    maxStalled: v['max-stalled'],
    log: v.quiet ? undefined : (l) => process.stderr.write(l + '\n'),
    onFatal: (problem) => {
      fatal ??= problem;
      stop('redis');
    },
  });
  const why = await new Promise<string>((done) => {
    stop = done;
    if (fatal) done('redis');
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
  // Redis refusing us: running stages cannot report back; they go to another worker.
  const s = await w.close(!!fatal);
  if (fatal) {
    process.stderr.write(`robustlab: ${fatal}\n`);
    process.exit(1);
  }
  output(
    v.json,
    { command: 'worker', stoppedBy: why, ...s },
    () =>
      `worker stopped (${why}): ${s.completed} stages run, ${s.reused} already done, ${s.failed} failed, ${s.rejected} malformed jobs rejected`,
  );
  // A Redis client still trying to reconnect would keep the process alive.
  process.exit(0);
}
