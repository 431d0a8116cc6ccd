/**
 * Runs in every test worker before each file. Vitest's worker reports "test started" to the
 * main process over an RPC with a fixed 60 s timeout, then runs the test. Our tests compute
 * synchronously for long stretches (training, attacks); on a loaded machine such a stretch
 * outlasts 60 s, the reply waits behind it, the timer fires first, and vitest exits 1
 * ('Timeout calling "onTaskUpdate"') although every test passed. Pausing briefly before each
 * hook and test lets the pending update (throttled by 100 ms) go out and its reply come back
 * while the event loop is free.
 */
import { beforeAll, beforeEach } from 'vitest';

const flush = () => new Promise<void>((r) => setTimeout(r, 250));
beforeAll(flush);
beforeEach(flush);
