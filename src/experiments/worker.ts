/** Worker thread: one tensor backend per worker; runs the stages the scheduler sends it. */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/backend.js';
import { observeProgress } from '../util/progress.js';
import { runStage, type RunContext, type Stage } from './stages.js';

const { backend, ctx } = workerData as { backend?: string; ctx: RunContext };
await initBackend({ backend });
parentPort!.on('message', async (msg: { stage: Stage; dirs: Record<string, string> }) => {
  // Forward this stage's progress bars to the scheduler, which draws one bar per running stage.
  observeProgress((e) => parentPort!.postMessage({ progress: e, name: msg.stage.name }));
  try {
    const result = await runStage(msg.stage, msg.dirs, ctx);
    parentPort!.postMessage({ ok: true, name: msg.stage.name, result });
  } catch (e) {
    parentPort!.postMessage({
      ok: false,
      name: msg.stage.name,
      error: (e as Error).message.split('\n')[0],
    });
  }
});
parentPort!.postMessage({ ready: true });
