// End-to-end: the official MCP TypeScript SDK (Client + WebSocketClientTransport) talking to
// real MCP servers (npm's server-everything, PyPI's mcp-server-time) through a real
// bridgedockd, at ws://127.0.0.1:PORT/mcp/NAME?token=TOKEN.
//
// The daemon and its helpers come from ./daemon.mjs (one daemon for the whole `npm test` run),
// which also documents the environment variables (BRIDGEDOCKD, BRIDGEDOCK_SERVERS_VENV,
// BRIDGEDOCK_KEEP_TMP).
//
// The tests run in order (node:test runs a file's top-level
// tests one after another), and the restart test comes after the ones that need a calm server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';

import { WebSocket as WsWebSocket } from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';

import {
  LONG_TOOL,
  SERVER_GONE,
  ctl,
  later,
  pidAlive,
  poll,
  port,
  serverStatus,
  startDaemon,
  status,
  stopDaemon,
  textOf,
  token,
} from './daemon.mjs';

// The SDK's WebSocketClientTransport uses the global WebSocket, which Node 20 only has behind
// --experimental-websocket. We always install the pinned `ws` package's WebSocket, with
// allowSynchronousEvents: false so that, as in a browser, each message event is its own task.
// Why it matters: the SDK's Protocol runs notification handlers in a microtask but settles
// responses synchronously, so when a progress notification and its request's response arrive in
// one TCP read and both message events fire in one go (ws's default, and Node 20's
// --experimental-websocket too), the response removes the progress handler first and the SDK
// drops the last progress ("unknown token"). That is the SDK's race, not the bridge's: the SDK
// over plain stdio, with no bridge at all, loses the last progress of server-everything's
// long-running tool nearly every time. The wire-level checks below see every frame either way.
globalThis.WebSocket = class WebSocket extends WsWebSocket {
  constructor(url, protocols, options) {
    super(url, protocols, { allowSynchronousEvents: false, ...options });
  }
};

const openClients = new Set();

// ---------------------------------------------------------------- helpers

/**
 * An SDK Client connected through the bridge. `wire.sent` / `wire.received` record every
 * JSON-RPC message exactly as it crossed this client's WebSocket, so tests can check ids and
 * progress tokens as the client saw them, not only as the SDK reported them.
 */
async function connect(server, clientName) {
  const url = new URL(`ws://127.0.0.1:${port}/mcp/${server}`);
  url.searchParams.set('token', token);
  const transport = new WebSocketClientTransport(url);
  const wire = { sent: [], received: [], closed: false };

  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    wire.sent.push(message);
    return send(message, options);
  };
  const start = transport.start.bind(transport);
  transport.start = () => {
    // Protocol.connect has set onmessage/onclose by now; record underneath them.
    const onmessage = transport.onmessage;
    transport.onmessage = (message, extra) => {
      wire.received.push(message);
      onmessage?.(message, extra);
    };
    const onclose = transport.onclose;
    transport.onclose = () => {
      wire.closed = true;
      onclose?.();
    };
    return start();
  };

  const client = new Client({ name: clientName, version: '9.9.9' });
  await client.connect(transport);
  openClients.add(client);
  return { client, transport, wire };
}

async function closeClient(client) {
  openClients.delete(client);
  await client.close();
}

// ---------------------------------------------------------------- daemon lifecycle

before(async () => {
  await startDaemon({ prefix: 'bridgedock-tsws-' });
});

after(async () => {
  for (const client of openClients) await client.close().catch(() => {});
  await stopDaemon();
});

// ---------------------------------------------------------------- tests

test('connect, listTools, callTool echo (server-everything) and get_current_time (mcp-server-time)', async () => {
  const every = await connect('everything', 'e2e-basic');
  const tools = (await every.client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('echo'), `server-everything lists echo: ${tools.join(', ')}`);
  assert.ok(tools.includes(LONG_TOOL), `server-everything lists ${LONG_TOOL}: ${tools.join(', ')}`);
  const echoed = await every.client.callTool({ name: 'echo', arguments: { message: 'hello through the bridge' } });
  assert.equal(textOf(echoed), 'Echo: hello through the bridge');
  assert.equal(every.client.getServerVersion()?.name, 'mcp-servers/everything');

  const time = await connect('time', 'e2e-basic-time');
  const timeTools = (await time.client.listTools()).tools.map((t) => t.name);
  assert.ok(timeTools.includes('get_current_time'), `mcp-server-time lists get_current_time: ${timeTools.join(', ')}`);
  const now = await time.client.callTool({ name: 'get_current_time', arguments: { timezone: 'UTC' } });
  assert.notEqual(now.isError, true, textOf(now));
  const parsed = JSON.parse(textOf(now));
  assert.equal(parsed.timezone, 'UTC');
  const skewMs = Math.abs(Date.parse(parsed.datetime) - Date.now());
  assert.ok(skewMs < 60_000, `get_current_time is close to now (off by ${skewMs} ms): ${parsed.datetime}`);

  // Every response this client saw answers a request it sent, under the id it used.
  for (const c of [every, time]) {
    const sentIds = new Set(c.wire.sent.filter((m) => 'method' in m && 'id' in m).map((m) => m.id));
    for (const m of c.wire.received.filter((m) => !('method' in m))) {
      assert.ok(sentIds.has(m.id), `response id ${JSON.stringify(m.id)} is one this client sent`);
    }
  }
  await closeClient(every.client);
  await closeClient(time.client);
});

test('four clients, one progress token: each gets only its own progress and its own result', async () => {
  const N = 4;
  const clients = [];
  for (let i = 0; i < N; i++) clients.push(await connect('everything', `e2e-progress-${i}`));

  // Different step counts make a misrouted notification or result visible: client i runs
  // `steps = 3 + i` steps, so every progress it sees must say total = 3 + i.
  const started = performance.now();
  const runs = clients.map(async ({ client }, i) => {
    const steps = 3 + i;
    const progress = [];
    const result = await client.callTool(
      { name: LONG_TOOL, arguments: { duration: 2, steps } },
      undefined,
      { onprogress: (p) => progress.push(p), timeout: 30_000 },
    );
    return { steps, progress, result };
  });
  const outcomes = await Promise.all(runs);
  const elapsed = performance.now() - started;
  console.log(`# 4 concurrent ${LONG_TOOL} calls (2 s each) took ${elapsed.toFixed(0)} ms`);

  // The SDK picks the progress token from its own request id; all four clients made the same
  // requests in the same order, so all four sent the same token.
  const tokens = clients.map(({ wire }) => {
    const call = wire.sent.find((m) => m.method === 'tools/call');
    return call.params._meta.progressToken;
  });
  assert.equal(new Set(tokens).size, 1, `all four clients used the same progressToken: ${JSON.stringify(tokens)}`);
  const callIds = clients.map(({ wire }) => wire.sent.find((m) => m.method === 'tools/call').id);
  assert.equal(new Set(callIds).size, 1, `all four clients used the same request id: ${JSON.stringify(callIds)}`);

  // On the wire: only this client's token and ids came back, nothing else.
  clients.forEach(({ wire }, i) => {
    const token = tokens[i];
    const notes = wire.received.filter((m) => m.method === 'notifications/progress');
    assert.equal(notes.length, 3 + i, `client ${i} received ${3 + i} progress notifications on its socket`);
    for (const n of notes) assert.equal(n.params.progressToken, token, `client ${i} saw its own token`);
    assert.deepEqual(
      notes.map((n) => [n.params.progress, n.params.total]),
      Array.from({ length: 3 + i }, (_, k) => [k + 1, 3 + i]),
      `client ${i}'s socket carried its own progress (total ${3 + i}), in order`,
    );
    const callId = wire.sent.find((m) => m.method === 'tools/call').id;
    const responseAt = wire.received.findIndex((m) => !('method' in m) && m.id === callId);
    const lastNoteAt = wire.received.lastIndexOf(notes.at(-1));
    assert.ok(lastNoteAt < responseAt, `client ${i}: the bridge kept the server's order (last progress before the result)`);
    const sentIds = wire.sent.filter((m) => 'method' in m && 'id' in m).map((m) => m.id);
    const responses = wire.received.filter((m) => !('method' in m));
    assert.deepEqual(responses.map((m) => m.id), sentIds, `client ${i} got one response per request, under its own ids`);
  });

  // And through the SDK: its own result and its own progress callbacks, in order.
  outcomes.forEach(({ steps, progress, result }, i) => {
    assert.equal(textOf(result), `Long running operation completed. Duration: 2 seconds, Steps: ${steps}.`, `client ${i} got its own result`);
    assert.deepEqual(
      progress.map((p) => [p.progress, p.total]),
      Array.from({ length: steps }, (_, k) => [k + 1, steps]),
      `client ${i} got exactly its own ${steps} progress notifications, in order`,
    );
  });

  for (const { client } of clients) await closeClient(client);
});

test('a closed client and a new one: the new one works and ctl status lists it by clientInfo name', async () => {
  const first = await connect('everything', 'e2e-first-socket');
  assert.equal(textOf(await first.client.callTool({ name: 'echo', arguments: { message: 'one' } })), 'Echo: one');
  await poll('the first client in ctl status', async () =>
    (await status()).clients.find((c) => c.client_name === 'e2e-first-socket'),
  );
  await closeClient(first.client);
  await poll('the first socket to close', async () => first.wire.closed, { timeoutMs: 5_000 });

  const second = await connect('everything', 'e2e-second-socket');
  assert.equal(textOf(await second.client.callTool({ name: 'echo', arguments: { message: 'two' } })), 'Echo: two');
  const entry = await poll('the new client in ctl status', async () =>
    (await status()).clients.find((c) => c.client_name === 'e2e-second-socket'),
  );
  assert.equal(entry.server, 'everything');
  assert.equal(entry.transport, 'websocket');
  assert.equal(entry.client_version, '9.9.9');
  assert.ok(entry.protocol_version, 'protocol_version is filled in from initialize');
  assert.match(entry.peer, /^127\.0\.0\.1:\d+$/);

  await poll('the closed client to leave ctl status', async () =>
    !(await status()).clients.some((c) => c.client_name === 'e2e-first-socket'),
  { timeoutMs: 5_000 });
  await closeClient(second.client);
});

test('restart mid-call: -32002 at once, and the same client carries on without reconnecting', async () => {
  const { client, transport, wire } = await connect('everything', 'e2e-restart');
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'before' } })), 'Echo: before');
  const pidBefore = (await serverStatus('everything')).pid;
  const socket = transport._socket;
  assert.ok(socket, 'the transport has a socket');

  let firstProgress;
  const progressed = new Promise((r) => (firstProgress = r));
  let rejectedAt;
  const call = client
    .callTool(
      { name: LONG_TOOL, arguments: { duration: 20, steps: 20 } },
      undefined,
      { onprogress: () => firstProgress(), timeout: 60_000 },
    )
    .then(
      (result) => ({ result }),
      (error) => {
        rejectedAt = performance.now();
        return { error };
      },
    );
  // Wait until the call is certainly running at the server.
  assert.notEqual(await Promise.race([progressed.then(() => 'progress'), later(5_000, 'timeout')]), 'timeout', 'the long call reported progress within 5 s');

  const restartAt = performance.now();
  await ctl('restart', 'everything');
  const ctlDoneAt = performance.now();
  const outcome = await Promise.race([call, later(10_000, { timeout: true })]);
  assert.ok(!outcome.timeout, 'the call in flight ended within 10 s of the restart');
  assert.ok(outcome.error, `the call in flight failed (got a result instead: ${JSON.stringify(outcome.result)})`);
  assert.equal(outcome.error.code, SERVER_GONE, `error code is -32002: ${outcome.error.message}`);
  const latency = rejectedAt - restartAt;
  console.log(
    `# restart-error latency: ${latency.toFixed(1)} ms from \`ctl restart\` start ` +
      `(ctl itself took ${(ctlDoneAt - restartAt).toFixed(1)} ms); error: ${outcome.error.message}`,
  );
  assert.ok(latency < 1000, `the call failed within 1 s of the restart command (took ${latency.toFixed(1)} ms)`);

  // Same Client, same socket: the bridge re-initialized the new process on its own.
  const started = performance.now();
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'after' } }, undefined, { timeout: 35_000 })), 'Echo: after');
  console.log(`# echo after the restart answered in ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(wire.closed, false, 'the socket never closed');
  assert.equal(transport._socket, socket, 'the transport still uses its first socket');
  assert.equal(socket.readyState, WebSocket.OPEN);
  assert.equal(wire.sent.filter((m) => m.method === 'initialize').length, 1, 'the client initialized once only');

  const restarted = await poll('a new running everything process', async () => {
    const s = await serverStatus('everything');
    return s.state === 'running' && s.pid && s.pid !== pidBefore && s;
  });
  assert.ok(restarted.restarts >= 1, 'ctl status counts the restart');
  assert.ok(!pidAlive(pidBefore), `the old server process ${pidBefore} is gone`);

  // A long call with progress works again on the new process, for the same client.
  const progress = [];
  const again = await client.callTool({ name: LONG_TOOL, arguments: { duration: 1, steps: 2 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  assert.equal(textOf(again), 'Long running operation completed. Duration: 1 seconds, Steps: 2.');
  assert.deepEqual(progress, [1, 2]);

  // Across the restart, the client saw exactly one response per request it sent, under its own
  // ids: the bridge's own re-initialize of the new process never leaked to it.
  const sentIds = wire.sent.filter((m) => 'method' in m && 'id' in m).map((m) => m.id);
  const responseIds = wire.received.filter((m) => !('method' in m)).map((m) => m.id);
  assert.deepEqual(responseIds, sentIds);
  await closeClient(client);
});

test('a request sent while the server is stopped waits for it to come back', async () => {
  const { client, wire } = await connect('everything', 'e2e-held');
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'up' } })), 'Echo: up');
  await ctl('stop', 'everything');
  await poll('everything to be stopped', async () => (await serverStatus('everything')).state === 'stopped');

  const sentAt = performance.now();
  const held = client.callTool({ name: 'echo', arguments: { message: 'held' } }, undefined, { timeout: 35_000 });
  let settled = false;
  held.then(() => (settled = true), () => (settled = true));
  await later(1_500);
  assert.equal(settled, false, 'the request is held while the server is stopped, not failed at once');
  await ctl('start', 'everything');
  assert.equal(textOf(await held), 'Echo: held');
  const waited = performance.now() - sentAt;
  console.log(`# a request held while the server was stopped was answered after ${waited.toFixed(0)} ms`);
  assert.equal(wire.sent.filter((m) => m.method === 'initialize').length, 1, 'the client initialized once only');
  await closeClient(client);
});
