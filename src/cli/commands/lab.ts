import { intOpt, output, parse, helpRequested } from '../args.js';
import { DEFAULT_LAB_PORT, startLabServer } from '../lab-server.js';

const HELP = `usage: robustlab lab [--run DIR] [--port P]

Serves the browser lab on http://127.0.0.1:P/ with the classifiers of a reproduce run: pick or
draw a digit, see every classifier's label, attack one live, move the spectral-defence slider,
compare reconstructions by encoding and projection, and read the run's report. Everything runs
in the page (tfjs wasm, multi-threaded: the server sends the COOP/COEP headers). Ctrl-C stops it.

options:
  --run DIR    a reproduce run (default runs/quick; make it with
               \`npx robustlab reproduce --preset quick\`)
  --port P     port on 127.0.0.1 (default ${DEFAULT_LAB_PORT}; 0 = any free port)
common: --json (prints {url, run, models} once listening) --data-dir (test images) --help`;

export async function run(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, { run: { type: 'string' }, port: { type: 'string' } });
  if (helpRequested(v, HELP)) return;
  const port = intOpt('port', v.port, DEFAULT_LAB_PORT, 0);
  if (port > 65535) throw new RangeError(`--port must be ≤ 65535 (got ${port})`);
  const server = await startLabServer({
    run: v.run ?? 'runs/quick',
    port,
    dataDir: v['data-dir'],
  });
  const models = Object.values(server.index.datasets).reduce((s, d) => s + d.models.length, 0);
  output(v.json, { command: 'lab', url: server.url, run: server.index.run, models }, () =>
    [
      `robustlab lab: ${models} classifiers from ${server.index.run}`,
      `open ${server.url}   (Ctrl-C stops the server)`,
    ].join('\n'),
  );
  await new Promise<void>((done) => {
    const stop = () => void server.close().then(done);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
