// The README's TypeScript examples run as written, against a real bridgedockd.
//
// Which code: each ```js block right after a `<!-- tested: LABEL -->` line in README.md. LABEL
// names the package and version the block is for (and ", mode auto" for the 2026-07-28 opt-in);
// the version must be the one pinned here, so the README and package.json cannot drift apart.
//
// What is changed before running: only the two things a reader fills in — the address
// `http://127.0.0.1:7455` becomes the test daemon's (`--port 0`), and `Bearer TOKEN` its token.
// Nothing else: a block that no longer contains both is a failure, not a skip.
//
// How it runs: `node --input-type=module` with the block on stdin, in this directory (so the
// imports resolve to the pinned packages here), against the daemon's `time` server
// (mcp-server-time); its output must be what the README says it prints.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { later, port, startDaemon, status, stopDaemon, token } from './daemon.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const README = path.join(HERE, '..', '..', 'README.md');
/** The version of `pkg` installed here (package-lock.json pins it). */
const pinned = (pkg) => JSON.parse(readFileSync(path.join(HERE, 'node_modules', pkg, 'package.json'), 'utf8')).version;

const README_ADDRESS = 'http://127.0.0.1:7455';
const README_TOKEN = 'Bearer TOKEN';
const RUN_TIMEOUT_MS = 30_000;

/** Every `<!-- tested: LABEL -->` + ```js block of the README, as {label, code}. */
function testedBlocks() {
  const text = readFileSync(README, 'utf8');
  return [...text.matchAll(/^<!-- tested: (.+?) -->\n```js\n([\s\S]*?)\n```$/gm)].map(([, label, code]) => ({ label, code }));
}

/** What each block must print: the revision it speaks (when it prints one), then the tool's answer. */
const EXPECTED = {
  [`@modelcontextprotocol/client ${pinned('@modelcontextprotocol/client')}`]: { revision: '2025-11-25', leavesSession: false },
  [`@modelcontextprotocol/client ${pinned('@modelcontextprotocol/client')}, mode auto`]: { revision: '2026-07-28', leavesSession: false },
  [`@modelcontextprotocol/sdk ${pinned('@modelcontextprotocol/sdk')}`]: { revision: undefined, leavesSession: false },
};

const blocks = testedBlocks();

before(async () => {
  await startDaemon({ prefix: 'bridgedock-readme-' });
});

after(async () => {
  await stopDaemon();
});

test('README.md marks exactly the TypeScript examples, for the versions pinned here', () => {
  assert.deepEqual(
    blocks.map((b) => b.label),
    Object.keys(EXPECTED),
    'the README\'s `<!-- tested: … -->` labels (a version in a label must be the one in tests/node/package.json)',
  );
});

/** Runs `code` as an ES module here; answers {code, stdout, stderr}. */
async function runModule(code) {
  const child = spawn(process.execPath, ['--input-type=module'], { cwd: HERE, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  child.stdin.end(code);
  const outcome = await Promise.race([exited, later(RUN_TIMEOUT_MS, 'timeout')]);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`did not finish within ${RUN_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
  return { code: outcome[0], stdout, stderr };
}

for (const { label, code } of blocks) {
  test(`README example for ${label} runs as written and prints the time in UTC`, async () => {
    const expected = EXPECTED[label];
    assert.ok(expected, `no expectation for the README block labelled ${label}`);
    assert.ok(code.includes(README_ADDRESS), `the block uses ${README_ADDRESS}`);
    assert.ok(code.includes(README_TOKEN), `the block uses '${README_TOKEN}'`);
    const live = code.replaceAll(README_ADDRESS, `http://127.0.0.1:${port}`).replaceAll(README_TOKEN, `Bearer ${token}`);

    const run = await runModule(live);
    assert.equal(run.code, 0, `exit code 0\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    let out = run.stdout.trim();
    if (expected.revision) {
      assert.ok(out.startsWith(`${expected.revision} `), `it prints ${expected.revision} first: ${out}`);
      out = out.slice(expected.revision.length + 1);
    }
    const now = JSON.parse(out);
    assert.equal(now.timezone, 'UTC');
    assert.ok(Math.abs(Date.parse(now.datetime) - Date.now()) < 60_000, `close to now: ${now.datetime}`);

    // The example ends what it opened: no session of it stays in bridgedock.
    const left = (await status()).clients.filter((c) => c.client_name === 'my-app');
    assert.deepEqual(left, [], 'no session of the example is left in ctl status');
  });
}
