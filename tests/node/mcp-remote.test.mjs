// mcp-remote as Claude Desktop runs it, through bridgedock: `bridgedockd ctl config NAME
// --client claude-desktop` prints `npx -y mcp-remote URL --header "Authorization: Bearer …"`;
// the test runs the pinned mcp-remote with exactly those arguments and speaks MCP over its stdio
// as Claude Desktop does.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { ctl, later, port, startDaemon, status, stopDaemon, textOf, token } from './daemon.mjs';

const HANDSHAKE = '2025-11-25';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const MCP_REMOTE = path.join(HERE, 'node_modules', '.bin', 'mcp-remote');
const MCP_REMOTE_VERSION = JSON.parse(readFileSync(path.join(HERE, 'node_modules', 'mcp-remote', 'package.json'), 'utf8')).version;

const mcpUrl = (server) => `http://127.0.0.1:${port}/mcp/${server}`;

before(() => startDaemon({ prefix: 'bridgedock-mcp-remote-' }));
after(() => stopDaemon());

/** A JSON-RPC peer over a child's stdio: `request(method, params)` answers its response. */
function stdioPeer(child) {
  const waiting = new Map();
  const lines = createInterface({ input: child.stdout });
  const received = [];
  lines.on('line', (line) => {
    const msg = JSON.parse(line);
    received.push(msg);
    waiting.get(msg.id)?.(msg);
  });
  let nextId = 1;
  return {
    received,
    notify: (method, params) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method, ...(params && { params }) })}\n`),
    request(method, params) {
      const id = nextId++;
      const answered = new Promise((resolve) => waiting.set(id, resolve));
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      return Promise.race([answered, later(30_000, { timeout: method })]);
    },
  };
}

test(`mcp-remote ${MCP_REMOTE_VERSION} as Claude Desktop runs it (ctl config --client claude-desktop): initialize, tools/list, tools/call over its stdio reach mcp-server-time`, async () => {
  // What bridgedock tells Claude Desktop to run: `npx -y mcp-remote URL --header "Authorization: Bearer …"`.
  // npx would fetch mcp-remote; the test runs the pinned copy with the same arguments.
  const printed = await ctl('config', 'time', '--client', 'claude-desktop');
  const config = JSON.parse(printed.replace(/^\/\/.*\n/, ''));
  const { command, args } = config.mcpServers.time;
  assert.equal(command, 'npx');
  assert.deepEqual(args.slice(0, 2), ['-y', 'mcp-remote']);
  assert.deepEqual(args.slice(2), [mcpUrl('time'), '--header', `Authorization: Bearer ${token}`]);

  const authDir = await mkdtemp(path.join(tmpdir(), 'bridgedock-mcp-remote-')); // mcp-remote's state, not ~/.mcp-auth
  const child = spawn(MCP_REMOTE, args.slice(2), { env: { ...process.env, MCP_REMOTE_CONFIG_DIR: authDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const peer = stdioPeer(child);
    const init = await peer.request('initialize', {
      protocolVersion: HANDSHAKE,
      capabilities: {},
      clientInfo: { name: 'claude-desktop-e2e', version: '1.0.0' },
    });
    assert.ok(init.result, `initialize answered: ${JSON.stringify(init)}\n${stderr}`);
    assert.equal(init.result.serverInfo.name, 'mcp-time');
    assert.equal(init.result.protocolVersion, HANDSHAKE);
    peer.notify('notifications/initialized');

    const listed = await peer.request('tools/list', {});
    assert.ok(listed.result, JSON.stringify(listed));
    assert.ok(listed.result.tools.some((x) => x.name === 'get_current_time'), JSON.stringify(listed.result.tools.map((x) => x.name)));

    const called = await peer.request('tools/call', { name: 'get_current_time', arguments: { timezone: 'UTC' } });
    assert.ok(called.result, JSON.stringify(called));
    assert.notEqual(called.result.isError, true, textOf(called.result));
    const now = JSON.parse(textOf(called.result));
    assert.equal(now.timezone, 'UTC');
    assert.ok(Math.abs(Date.parse(now.datetime) - Date.now()) < 60_000, `close to now: ${now.datetime}`);

    // It went through bridgedock: the session is there, named after the client behind mcp-remote.
    const entry = (await status()).clients.find((x) => x.server === 'time' && x.client_name?.startsWith('claude-desktop-e2e'));
    assert.ok(entry, `ctl status lists mcp-remote's session: ${JSON.stringify((await status()).clients.map((x) => x.client_name))}`);
    assert.equal(entry.transport, 'http');
    assert.equal(entry.protocol_version, HANDSHAKE);
  } finally {
    child.stdin.end(); // as Claude Desktop quits: mcp-remote exits when its stdin closes
    if ((await Promise.race([exited, later(5_000, 'timeout')])) === 'timeout') {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(authDir, { recursive: true, force: true });
  }
});
