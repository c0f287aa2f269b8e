// Shared by the node:test files: start one real bridgedockd (`serve --port 0`) with three
// servers — npm's server-everything (a 2025-11-25 server), PyPI's mcp-server-time, and
// fixtures/native-server.mjs (a native 2026-07-28 server) — talk to it with `ctl`, and stop it
// (SIGTERM, must exit 0, and its servers must go with it).
//
// One daemon for the whole run: `npm test` (run-tests.mjs) starts it once, hands it to every
// test file through BRIDGEDOCK_TEST_DAEMON, and stops it after the last file. A file run on
// its own (`node --test bridge-http.test.mjs`) starts and stops its own.
//
// Env: BRIDGEDOCKD (the binary; default ~/.cache/bridgedock-target/debug/bridgedockd),
//      BRIDGEDOCK_SERVERS_VENV (default ~/.cache/bridgedock/servers-venv),
//      BRIDGEDOCK_KEEP_TMP=1 keeps the daemon's temp dir (config, state, logs) for a look,
//      BRIDGEDOCK_TEST_DAEMON (set by run-tests.mjs): {"port", "dir"} of a running daemon to use.
//
// `port`, `token` and `dir` are live bindings: read them after `startDaemon()` has resolved.

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const require = createRequire(import.meta.url);

export const BIN =
  process.env.BRIDGEDOCKD ||
  path.join(homedir(), '.cache', 'bridgedock-target', 'debug', 'bridgedockd');
export const SERVERS_VENV =
  process.env.BRIDGEDOCK_SERVERS_VENV || path.join(homedir(), '.cache', 'bridgedock', 'servers-venv');
export const TIME_SERVER = path.join(SERVERS_VENV, 'bin', 'mcp-server-time');
export const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
export const NATIVE_SERVER = fileURLToPath(new URL('./fixtures/native-server.mjs', import.meta.url));
/** The servers of the daemon's config; startDaemon waits until each one runs. */
export const SERVERS = ['everything', 'time', 'native'];
export const LONG_TOOL = 'trigger-long-running-operation';

/** -32002: what the bridge answers for requests in flight when their server goes away. */
export const SERVER_GONE = -32002;

export let dir; // temp dir: config, state dir, config dir, daemon logs
export let port;
export let token;
let daemon; // the bridgedockd child process
let daemonExit; // promise of [code, signal]
let shared = false; // true when this file uses the daemon run-tests.mjs started

// ---------------------------------------------------------------- helpers

function toml(s) {
  return JSON.stringify(s); // a JSON string is a valid TOML basic string
}

export function daemonStderrTail(lines = 40) {
  try {
    return readFileSync(path.join(dir, 'daemon.stderr'), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no daemon stderr)';
  }
}

export async function ctl(...args) {
  const { stdout } = await execFileP(BIN, ['ctl', '--state-dir', path.join(dir, 'state'), ...args], {
    timeout: 15_000,
  });
  return stdout;
}

export async function status() {
  return JSON.parse(await ctl('status', '--json'));
}

export async function serverStatus(name) {
  const s = (await status()).servers.find((x) => x.name === name);
  assert.ok(s, `ctl status has no server named ${name}`);
  return s;
}

/** Polls `check` (async, returns a truthy value when done) until it passes or time runs out. */
export async function poll(what, check, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves to `value` after `ms`, without keeping the process alive (for Promise.race). */
export function later(ms, value) {
  return new Promise((resolve) => setTimeout(resolve, ms, value).unref());
}

export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

export function textOf(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

// ---------------------------------------------------------------- daemon lifecycle

/** What run-tests.mjs hands to the test files it runs: where its daemon is. */
export function sharedDaemonEnv() {
  return { BRIDGEDOCK_TEST_DAEMON: JSON.stringify({ port, dir }) };
}

/**
 * Starts bridgedockd and waits until its servers run — or, under run-tests.mjs, uses the
 * daemon it started. For a `before()` hook.
 */
export async function startDaemon({ prefix = 'bridgedock-node-' } = {}) {
  const t0 = performance.now();
  if (process.env.BRIDGEDOCK_TEST_DAEMON) {
    ({ port, dir } = JSON.parse(process.env.BRIDGEDOCK_TEST_DAEMON));
    shared = true;
    token = (await readFile(path.join(dir, 'cfg', 'token'), 'utf8')).trim();
    await waitForServers();
    console.log(`# using the shared bridgedockd on port ${port}`);
    return;
  }
  assert.ok(existsSync(BIN), `bridgedockd not found at ${BIN}: build it (cargo build -p bridgedock-engine --bin bridgedockd) or set BRIDGEDOCKD`);
  assert.ok(existsSync(TIME_SERVER), `mcp-server-time not found at ${TIME_SERVER}: run scripts/setup-test-deps or set BRIDGEDOCK_SERVERS_VENV`);

  dir = await mkdtemp(path.join(tmpdir(), prefix));
  const config = path.join(dir, 'config.toml');
  await writeFile(
    config,
    [
      '[servers.everything]',
      `command = ${toml(process.execPath)}`,
      `args = [${toml(EVERYTHING)}]`,
      'restart = "always"',
      '',
      '[servers.time]',
      `command = ${toml(TIME_SERVER)}`,
      '',
      '[servers.native]',
      `command = ${toml(process.execPath)}`,
      `args = [${toml(NATIVE_SERVER)}]`,
      '',
    ].join('\n'),
  );

  daemon = spawn(
    BIN,
    ['serve', '--port', '0', '--config', config, '--state-dir', path.join(dir, 'state'), '--config-dir', path.join(dir, 'cfg')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemonExit = once(daemon, 'exit');
  daemon.stderr.pipe(createWriteStream(path.join(dir, 'daemon.stderr')));
  // Last resort if this process dies without running after(): never leave the daemon behind.
  const child = daemon;
  process.on('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const lines = createInterface({ input: daemon.stdout });
  port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridgedockd did not say where it listens within 20 s\n${daemonStderrTail()}`)), 20_000);
    daemon.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`bridgedockd exited early (code ${code}, signal ${signal})\n${daemonStderrTail()}`));
    });
    lines.on('line', (line) => {
      const m = /^bridgedockd: API listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  lines.on('line', () => {}); // keep draining stdout
  token = (await readFile(path.join(dir, 'cfg', 'token'), 'utf8')).trim();
  assert.match(token, /^\S+$/);

  await waitForServers();
  console.log(`# bridgedockd up on port ${port}, servers running, in ${(performance.now() - t0).toFixed(0)} ms`);
}

/** Running means answering: bridgedock shows a server running once it answered its handshake. */
async function waitForServers() {
  await poll(`${SERVERS.join(', ')} running`, async () => {
    const s = await status();
    return SERVERS.every((n) => s.servers.find((x) => x.name === n)?.state === 'running');
  }, { timeoutMs: 20_000 });
}

/**
 * SIGTERM to bridgedockd: it must exit with code 0 within 15 s and take its servers with it.
 * Throws (after cleaning up anyway) when it does not. For an `after()` hook.
 */
export async function stopDaemon() {
  const t0 = performance.now();
  if (shared || !daemon) return; // a shared daemon is run-tests.mjs's to stop
  let serverPids = [];
  try {
    serverPids = (await status()).servers.map((s) => s.pid).filter(Boolean);
  } catch {
    // the daemon may already be gone; its exit status is checked below
  }
  const problems = [];
  if (daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    if ((await Promise.race([daemonExit, later(15_000, 'timeout')])) === 'timeout') {
      daemon.kill('SIGKILL');
      await daemonExit;
      problems.push('bridgedockd did not exit within 15 s of SIGTERM (killed it with SIGKILL)');
    }
  }
  const [code, signal] = await daemonExit;
  if (code !== 0) problems.push(`bridgedockd exited with code ${code}, signal ${signal} (expected code 0 after SIGTERM)`);
  // Its servers must go with it.
  const deadline = Date.now() + 5_000;
  while (serverPids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const left = serverPids.filter(pidAlive);
  for (const pid of left) {
    process.kill(pid, 'SIGKILL');
    problems.push(`server process ${pid} outlived bridgedockd (killed it)`);
  }
  if (problems.length) {
    console.error(daemonStderrTail());
    if (!process.env.BRIDGEDOCK_KEEP_TMP) await rm(dir, { recursive: true, force: true });
    throw new Error(problems.join('; '));
  }
  console.log(`# bridgedockd and its servers stopped in ${(performance.now() - t0).toFixed(0)} ms`);
  if (process.env.BRIDGEDOCK_KEEP_TMP) console.log(`# kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
