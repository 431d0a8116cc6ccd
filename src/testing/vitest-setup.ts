/**
 * Runs in every test worker before each file. Vitest's worker reports "test started" to the
 * main process over an RPC with a fixed 60 s timeout, then runs the test. Our tests compute
 * synchronously for long stretches (training, attacks); on a loaded machine such a stretch
 * outlasts 60 s, the reply waits behind it, the timer fires first, and vitest exits 1
 * ('Timeout calling "onTaskUpdate"') although every test passed. Pausing briefly before each
 * hook lets the pending update (throttled by 100 ms) go out and its reply come back while the
 * event loop is free; before each test too in the files that declare long tests.
 */
import { beforeAll, beforeEach } from 'vitest';
import { SLOW_TESTS } from './slow-tests.js';

const flush = () => new Promise<void>((r) => setTimeout(r, 250));
beforeAll(flush);
// Before each test only in files that declare long tests (slowTests() in slow-tests.ts): the
// pause before all 578 tests was ~145 s of the suite's 414 s of test time, and a test of a few
// milliseconds yields to the event loop long before any RPC could time out.
beforeEach(() => ((globalThis as Record<string, unknown>)[SLOW_TESTS] ? flush() : undefined));
