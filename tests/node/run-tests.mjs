#!/usr/bin/env node
// `npm test`: one bridgedockd for every test file. Starts the daemon of daemon.mjs, runs the
// files given as arguments with node:test (one after another: the restart tests want a calm
// machine), then stops the daemon — which must exit 0 and take its servers with it, or the
// run fails even when every test passed.
//
//   node run-tests.mjs bridge-ws.test.mjs bridge-http.test.mjs …
//
// Each file reads where the daemon is from BRIDGEDOCK_TEST_DAEMON (see daemon.mjs); run on its
// own, a file starts a daemon of its own instead.

import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { sharedDaemonEnv, startDaemon, stopDaemon } from './daemon.mjs';

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node run-tests.mjs FILE.test.mjs…');
  process.exit(2);
}

await startDaemon({ prefix: 'bridgedock-node-' });
const tests = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, ...sharedDaemonEnv() },
});
const [code, signal] = await once(tests, 'exit');
let stopped = true;
try {
  await stopDaemon();
} catch (e) {
  console.error(`run-tests: ${e.message}`);
  stopped = false;
}
if (signal) console.error(`run-tests: node --test ended by ${signal}`);
process.exit(code === 0 && stopped ? 0 : code || 1);
