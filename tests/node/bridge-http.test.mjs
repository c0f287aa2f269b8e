// End-to-end: MCP over Streamable HTTP through a real bridgedockd, at
// http://127.0.0.1:PORT/mcp/NAME with `Authorization: Bearer TOKEN`, in front of real MCP servers
// (npm's server-everything, PyPI's mcp-server-time). Three kinds of client:
//
// - the official MCP TypeScript SDK (Client + StreamableHTTPClientTransport, 2025-11-25 sessions);
// - raw fetch, for what the SDK does not show: status codes, headers, SSE event ids,
//   Last-Event-ID resumption, and the stateless 2026-07-28 form (`_meta` in every request);
// - the MCP Inspector CLI (`mcp-inspector --cli … --transport http`).
//
// The daemon and its helpers come from ./daemon.mjs (one daemon for the whole `npm test` run);
// the tests run in order, and the restart test comes after the ones that need a calm server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

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

const execFileP = promisify(execFile);

const LOGGING_TOOL = 'toggle-simulated-logging';
const STATELESS = '2026-07-28';
const HANDSHAKE = '2025-11-25';
const INSPECTOR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules', '.bin', 'mcp-inspector');

const openClients = new Set();
const openStreams = new Set(); // AbortControllers of raw GET streams

// ---------------------------------------------------------------- helpers

function mcpUrl(server) {
  return `http://127.0.0.1:${port}/mcp/${server}`;
}

function auth() {
  return { Authorization: `Bearer ${token}` };
}

/**
 * An SDK Client over Streamable HTTP. `wire.sent` / `wire.received` record every JSON-RPC
 * message as the transport sent and delivered it; `http` records every HTTP exchange the
 * transport made ({method, rpc, sessionId, lastEventId, status, contentType}).
 */
async function connect(server, clientName) {
  const wire = { sent: [], received: [], closed: false };
  const http = [];
  const recordingFetch = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const entry = {
      method: init.method ?? 'GET',
      rpc: init.body ? JSON.parse(init.body).method ?? '(response)' : undefined,
      sessionId: headers.get('mcp-session-id'),
      protocolVersion: headers.get('mcp-protocol-version'),
      lastEventId: headers.get('last-event-id'),
    };
    http.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    entry.contentType = response.headers.get('content-type');
    entry.sessionIdAnswered = response.headers.get('mcp-session-id');
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl(server)), {
    requestInit: { headers: auth() },
    fetch: recordingFetch,
  });
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
  return { client, transport, wire, http };
}

async function closeClient(client) {
  openClients.delete(client);
  await client.close();
}

/** Parses an SSE body into {id, event, data (parsed JSON)} events; comments are skipped. */
async function* sseEvents(body) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const event = { id: undefined, event: 'message', data: [] };
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') event.data.push(value);
        else if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
      }
      if (event.data.length) yield { ...event, data: JSON.parse(event.data.join('\n')) };
    }
  }
}

/** A raw POST of one JSON-RPC message; answers {status, headers, json} or {status, headers, events}. */
async function rawPost(server, message, headers = {}) {
  const response = await fetch(mcpUrl(server), {
    method: 'POST',
    headers: {
      ...auth(),
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(message),
  });
  const type = response.headers.get('content-type') ?? '';
  const out = { status: response.status, headers: response.headers, contentType: type };
  if (type.startsWith('text/event-stream')) {
    out.events = [];
    for await (const e of sseEvents(response.body)) out.events.push(e);
  } else {
    const text = await response.text();
    out.text = text;
    out.json = text ? JSON.parse(text) : undefined;
  }
  return out;
}

/** The answer to a POSTed request, whichever way it came (JSON, or the last event of an SSE stream). */
function answerOf(r) {
  return r.json ?? r.events?.at(-1)?.data;
}

/** initialize + notifications/initialized by hand; returns the session id. */
async function rawInitialize(server, clientName) {
  const r = await rawPost(server, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: HANDSHAKE, capabilities: {}, clientInfo: { name: clientName, version: '1.0.0' } },
  });
  assert.equal(r.status, 200, `initialize: ${r.text}`);
  assert.ok(answerOf(r).result, `initialize answered with a result: ${JSON.stringify(answerOf(r))}`);
  const sid = r.headers.get('mcp-session-id');
  assert.ok(sid, 'initialize answered with an Mcp-Session-Id header');
  const note = await rawPost(
    server,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': HANDSHAKE },
  );
  assert.equal(note.status, 202, 'notifications/initialized is accepted with 202');
  return sid;
}

/**
 * Opens the GET stream of a session and collects its events in the background.
 * Returns {status, contentType, events, close()}.
 */
async function openGetStream(server, sid, lastEventId) {
  const controller = new AbortController();
  openStreams.add(controller);
  const headers = { ...auth(), Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': HANDSHAKE };
  if (lastEventId !== undefined) headers['Last-Event-ID'] = String(lastEventId);
  const response = await fetch(mcpUrl(server), { method: 'GET', headers, signal: controller.signal });
  const stream = {
    status: response.status,
    contentType: response.headers.get('content-type'),
    events: [],
    ended: false,
    close() {
      controller.abort();
      openStreams.delete(controller);
    },
  };
  if (response.ok) {
    (async () => {
      try {
        for await (const e of sseEvents(response.body)) stream.events.push(e);
      } catch {
        // aborted by close()
      }
      stream.ended = true;
    })();
  }
  return stream;
}

/**
 * The headers every 2026-07-28 POST carries (as the newest SDKs send them): the revision, and
 * the body's method (Mcp-Method) and, for tools/call, prompts/get and resources/read, its
 * name or uri (Mcp-Name). bridgedock checks them against the body (-32020 when they disagree).
 */
function modernHeaders(message, version = STATELESS) {
  const headers = { 'MCP-Protocol-Version': version, 'Mcp-Method': message.method };
  const name = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' }[message.method];
  if (name) headers['Mcp-Name'] = message.params[name];
  return headers;
}

function stateless(version = STATELESS, clientName = 'e2e-stateless') {
  return {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: clientName, version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

async function callToggleLogging(sid, id) {
  const r = await rawPost(
    'everything',
    { jsonrpc: '2.0', id, method: 'tools/call', params: { name: LOGGING_TOOL, arguments: {} } },
    { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': HANDSHAKE },
  );
  assert.equal(r.status, 200);
  const answer = answerOf(r);
  assert.ok(answer?.result, `${LOGGING_TOOL} answered: ${JSON.stringify(answer)}`);
  return textOf(answer.result);
}

const logMessages = (events) => events.filter((e) => e.data.method === 'notifications/message');

async function inspector(...args) {
  const { stdout } = await execFileP(
    INSPECTOR,
    ['--cli', mcpUrl('time'), '--transport', 'http', '--header', `Authorization: Bearer ${token}`, ...args],
    { timeout: 60_000 },
  );
  return JSON.parse(stdout);
}

// ---------------------------------------------------------------- daemon lifecycle

before(async () => {
  await startDaemon({ prefix: 'bridgedock-tshttp-' });
});

after(async () => {
  for (const c of openStreams) c.abort();
  for (const client of openClients) await client.close().catch(() => {});
  await stopDaemon();
});

// ---------------------------------------------------------------- SDK client

test('SDK: initialize, listTools, callTool echo (server-everything) and get_current_time (mcp-server-time)', async () => {
  const every = await connect('everything', 'e2e-http-basic');
  const sid = every.transport.sessionId;
  assert.match(sid ?? '', /^[\x21-\x7e]{32,}$/, `the session id is visible ASCII, at least 32 chars: ${sid}`);
  const tools = (await every.client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('echo'), `server-everything lists echo: ${tools.join(', ')}`);
  assert.ok(tools.includes(LONG_TOOL), `server-everything lists ${LONG_TOOL}: ${tools.join(', ')}`);
  // bridgedock, not the first client, initialized server-everything, declaring sampling for all
  // its clients: this client declared nothing and sees the tool server-everything shows only then.
  assert.ok(tools.includes('trigger-sampling-request'), `server-everything lists trigger-sampling-request: ${tools.join(', ')}`);
  const echoed = await every.client.callTool({ name: 'echo', arguments: { message: 'hello over streamable http' } });
  assert.equal(textOf(echoed), 'Echo: hello over streamable http');
  assert.equal(every.client.getServerVersion()?.name, 'mcp-servers/everything');

  const time = await connect('time', 'e2e-http-basic-time');
  assert.match(time.transport.sessionId ?? '', /^[\x21-\x7e]{32,}$/);
  assert.notEqual(time.transport.sessionId, sid, 'each client gets its own session');
  const timeTools = (await time.client.listTools()).tools.map((t) => t.name);
  assert.ok(timeTools.includes('get_current_time'), `mcp-server-time lists get_current_time: ${timeTools.join(', ')}`);
  const now = await time.client.callTool({ name: 'get_current_time', arguments: { timezone: 'UTC' } });
  assert.notEqual(now.isError, true, textOf(now));
  const parsed = JSON.parse(textOf(now));
  assert.equal(parsed.timezone, 'UTC');
  const skewMs = Math.abs(Date.parse(parsed.datetime) - Date.now());
  assert.ok(skewMs < 60_000, `get_current_time is close to now (off by ${skewMs} ms): ${parsed.datetime}`);

  for (const c of [every, time]) {
    // HTTP: the session id came with initialize's answer, and every later request carried it
    // along with the negotiated protocol version.
    const [init, ...rest] = c.http;
    assert.equal(init.rpc, 'initialize');
    assert.equal(init.status, 200);
    assert.equal(init.sessionIdAnswered, c.transport.sessionId);
    for (const h of rest.filter((h) => h.method === 'POST')) {
      assert.equal(h.sessionId, c.transport.sessionId, `${h.rpc} carried the session id`);
      assert.equal(h.protocolVersion, c.transport.protocolVersion, `${h.rpc} carried MCP-Protocol-Version`);
      assert.ok([200, 202].includes(h.status), `${h.rpc} answered ${h.status}`);
    }
    // Every response answers a request this client sent, under the id it used.
    const sentIds = c.wire.sent.filter((m) => 'method' in m && 'id' in m).map((m) => m.id);
    const responseIds = c.wire.received.filter((m) => !('method' in m)).map((m) => m.id);
    assert.deepEqual(responseIds, sentIds);
  }

  const entry = await poll('the HTTP client in ctl status', async () =>
    (await status()).clients.find((x) => x.client_name === 'e2e-http-basic'),
  );
  assert.equal(entry.server, 'everything');
  assert.equal(entry.transport, 'http');
  assert.equal(entry.client_version, '9.9.9');
  await closeClient(every.client);
  await closeClient(time.client);
});

test('SDK: progress over SSE — 3 progress notifications, then the result', async () => {
  const { client, wire, http } = await connect('everything', 'e2e-http-progress');
  const progress = [];
  const result = await client.callTool({ name: LONG_TOOL, arguments: { duration: 1, steps: 3 } }, undefined, {
    onprogress: (p) => progress.push([p.progress, p.total]),
    timeout: 30_000,
  });
  assert.equal(textOf(result), 'Long running operation completed. Duration: 1 seconds, Steps: 3.');
  assert.deepEqual(progress, [[1, 3], [2, 3], [3, 3]], 'the SDK reported 3 progress notifications, in order');

  const call = http.find((h) => h.rpc === 'tools/call');
  assert.equal(call.status, 200);
  assert.match(call.contentType, /^text\/event-stream/, 'the long call was answered with an SSE stream');
  // On the wire: the three notifications, with the client's token, before the result.
  const token = wire.sent.find((m) => m.method === 'tools/call').params._meta.progressToken;
  const notes = wire.received.filter((m) => m.method === 'notifications/progress');
  assert.equal(notes.length, 3);
  for (const n of notes) assert.equal(n.params.progressToken, token);
  const callId = wire.sent.find((m) => m.method === 'tools/call').id;
  const resultAt = wire.received.findIndex((m) => !('method' in m) && m.id === callId);
  assert.ok(wire.received.lastIndexOf(notes.at(-1)) < resultAt, 'the last progress came before the result');
  await closeClient(client);
});

test('SDK: terminateSession() sends DELETE; the session id is then unknown (404)', async () => {
  const { client, transport, http } = await connect('everything', 'e2e-http-delete');
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'x' } })), 'Echo: x');
  const sid = transport.sessionId;
  await transport.terminateSession();
  const del = http.find((h) => h.method === 'DELETE');
  assert.ok(del, 'the SDK sent a DELETE');
  assert.equal(del.sessionId, sid);
  assert.equal(del.status, 200, 'DELETE of a live session answers 200');
  assert.equal(transport.sessionId, undefined, 'the SDK forgot the session id');

  const r = await rawPost(
    'everything',
    { jsonrpc: '2.0', id: 7, method: 'tools/list' },
    { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': HANDSHAKE },
  );
  assert.equal(r.status, 404, `a POST with the ended session id answers 404: ${r.text}`);
  assert.equal(r.json?.jsonrpc, '2.0');
  assert.equal(typeof r.json?.error?.code, 'number');
  // A second DELETE of the same session is a 404 too.
  const again = await fetch(mcpUrl('everything'), { method: 'DELETE', headers: { ...auth(), 'Mcp-Session-Id': sid } });
  assert.equal(again.status, 404);
  await again.body?.cancel();
  await closeClient(client);
});

// ---------------------------------------------------------------- raw HTTP: errors

test('raw: an unknown session id answers 404 with a JSON-RPC error body', async () => {
  const r = await rawPost('everything', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'Mcp-Session-Id': 'nope' });
  assert.equal(r.status, 404);
  assert.match(r.contentType, /^application\/json/);
  assert.equal(r.json.jsonrpc, '2.0');
  assert.ok('id' in r.json, 'the error response has an id member');
  assert.equal(typeof r.json.error.code, 'number');
  assert.match(r.json.error.message, /session/i);
  // GET and DELETE with an unknown session id: 404 too.
  const get = await fetch(mcpUrl('everything'), { headers: { ...auth(), Accept: 'text/event-stream', 'Mcp-Session-Id': 'nope' } });
  assert.equal(get.status, 404);
  await get.body?.cancel();
  const del = await fetch(mcpUrl('everything'), { method: 'DELETE', headers: { ...auth(), 'Mcp-Session-Id': 'nope' } });
  assert.equal(del.status, 404);
  await del.body?.cancel();
});

test('raw: an unsupported MCP-Protocol-Version header answers 400; no session and no _meta answers 400 (initialize first)', async () => {
  const bad = await rawPost('everything', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'MCP-Protocol-Version': '1999-01-01' });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.jsonrpc, '2.0');
  assert.match(bad.json.error.message, /1999-01-01/);

  // The same with a live session: the header is checked on every request.
  const sid = await rawInitialize('everything', 'e2e-http-badversion');
  const inSession = await rawPost(
    'everything',
    { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '1999-01-01' },
  );
  assert.equal(inSession.status, 400, inSession.text);
  const getBad = await fetch(mcpUrl('everything'), {
    headers: { ...auth(), Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '1999-01-01' },
  });
  assert.equal(getBad.status, 400, 'GET with an unsupported MCP-Protocol-Version answers 400');
  await getBad.body?.cancel();
  const ok = await rawPost('everything', { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': HANDSHAKE });
  assert.equal(ok.status, 200);
  assert.ok(answerOf(ok).result.tools.length > 0, 'the session still works with a valid header');

  const none = await rawPost('everything', { jsonrpc: '2.0', id: 4, method: 'tools/list' });
  assert.equal(none.status, 400, none.text);
  assert.equal(none.json.jsonrpc, '2.0');
  assert.match(none.json.error.message, /initialize/);

  const del = await fetch(mcpUrl('everything'), { method: 'DELETE', headers: { ...auth(), 'Mcp-Session-Id': sid } });
  assert.equal(del.status, 200);
  await del.body?.cancel();
});

test('raw: no token answers 401; ?token= works like the header', async () => {
  const r = await fetch(mcpUrl('everything'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: stateless() } }),
  });
  assert.equal(r.status, 401);
  await r.body?.cancel();
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: stateless() } };
  const q = await fetch(`${mcpUrl('everything')}?token=${encodeURIComponent(token)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...modernHeaders(list) },
    body: JSON.stringify(list),
  });
  assert.equal(q.status, 200);
  assert.ok((await q.json()).result.tools.length > 0);
});

// ---------------------------------------------------------------- raw HTTP: stateless 2026-07-28

/** A raw 2026-07-28 POST of `message` with the headers that revision requires. */
function rawModernPost(server, message, version = STATELESS) {
  return rawPost(server, message, modernHeaders(message, version));
}

const SERVER_INFO_META = 'io.modelcontextprotocol/serverInfo';

test('raw: 2026-07-28 requests need no session — tools/list, tools/call, server/discover, unsupported version → -32022', async () => {
  const list = await rawModernPost('everything', { jsonrpc: '2.0', id: 'a', method: 'tools/list', params: { _meta: stateless() } });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.headers.get('mcp-session-id'), null, 'a stateless request gets no session id');
  const listed = answerOf(list);
  assert.equal(listed.id, 'a');
  assert.equal(listed.result.resultType, 'complete');
  // A cacheable result carries the revision's caching hints: nothing is cached, nothing shared.
  assert.equal(listed.result.ttlMs, 0);
  assert.equal(listed.result.cacheScope, 'private');
  assert.ok(listed.result.tools.some((t) => t.name === 'echo'));

  const call = await rawModernPost('everything', {
    jsonrpc: '2.0',
    id: 'b',
    method: 'tools/call',
    params: { name: 'echo', arguments: { message: 'stateless' }, _meta: stateless() },
  });
  assert.equal(call.status, 200, call.text);
  const called = answerOf(call);
  assert.equal(called.id, 'b');
  assert.equal(called.result.resultType, 'complete');
  assert.equal(textOf(called.result), 'Echo: stateless');

  const discover = await rawModernPost('everything', { jsonrpc: '2.0', id: 'c', method: 'server/discover', params: { _meta: stateless() } });
  assert.equal(discover.status, 200, discover.text);
  const found = answerOf(discover).result;
  assert.ok(found.supportedVersions.includes(STATELESS), `supportedVersions: ${found.supportedVersions}`);
  // 2026-07-28 names the server in the result's _meta, not in the body.
  assert.equal(found._meta?.[SERVER_INFO_META]?.name, 'mcp-servers/everything', JSON.stringify(found));
  assert.equal(found.serverInfo, undefined, 'no body serverInfo in a 2026-07-28 discover result');
  assert.ok(found.capabilities?.tools, 'server/discover carries the server capabilities');
  assert.equal(found.resultType, 'complete');
  assert.equal(found.ttlMs, 0);
  assert.equal(found.cacheScope, 'private');

  // Same on mcp-server-time, a different server.
  const time = await rawModernPost('time', { jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: stateless() } });
  assert.equal(time.status, 200, time.text);
  assert.equal(answerOf(time).result._meta?.[SERVER_INFO_META]?.name, 'mcp-time');

  const unsupported = await rawModernPost(
    'everything',
    { jsonrpc: '2.0', id: 'e', method: 'tools/list', params: { _meta: stateless('2099-01-01') } },
    '2099-01-01',
  );
  const err = answerOf(unsupported);
  console.log(`# unsupported version (header and _meta 2099-01-01): HTTP ${unsupported.status}, ${JSON.stringify(err.error)}`);
  assert.equal(err.id, 'e');
  assert.equal(err.error.code, -32022);
  assert.ok(Array.isArray(err.error.data?.supported), 'error.data.supported is a list');
  assert.ok(err.error.data.supported.includes(STATELESS));
});

test(
  'raw: 2026-07-28 unsupported version is HTTP 400 with UnsupportedProtocolVersionError, also when the header names it',
  {},
  async () => {
    // The 2026-07-28 Streamable HTTP transport: "If the server does not implement the requested
    // protocol version ... it MUST respond with 400 Bad Request and an
    // UnsupportedProtocolVersionError listing its supported versions", and every POST carries an
    // MCP-Protocol-Version header that matches `_meta`.
    const withHeader = await rawPost(
      'everything',
      { jsonrpc: '2.0', id: 'f', method: 'tools/list', params: { _meta: stateless('2099-01-01') } },
      { 'MCP-Protocol-Version': '2099-01-01' },
    );
    console.log(`# unsupported version in _meta and header: HTTP ${withHeader.status}, ${withHeader.text}`);
    const noHeader = await rawPost('everything', { jsonrpc: '2.0', id: 'g', method: 'tools/list', params: { _meta: stateless('2099-01-01') } });
    assert.equal(noHeader.status, 400, 'unsupported _meta version (no header): HTTP 400');
    assert.equal(withHeader.status, 400);
    assert.equal(withHeader.json?.error?.code, -32022, 'a client speaking a newer revision gets -32022, so it can negotiate');
    assert.ok(withHeader.json?.error?.data?.supported?.includes(STATELESS), 'and the list of supported versions');
  },
);

test('raw: a 2026-07-28 request with a progressToken gets an SSE answer, and leaves no session behind', async () => {
  const r = await rawPost(
    'everything',
    {
      jsonrpc: '2.0',
      id: 'p',
      method: 'tools/call',
      params: { name: LONG_TOOL, arguments: { duration: 1, steps: 2 }, _meta: { ...stateless(STATELESS, 'e2e-stateless-progress'), progressToken: 'tok-1' } },
    },
    { 'MCP-Protocol-Version': STATELESS, 'Mcp-Method': 'tools/call', 'Mcp-Name': LONG_TOOL },
  );
  assert.equal(r.status, 200);
  assert.match(r.contentType, /^text\/event-stream/);
  assert.equal(r.headers.get('mcp-session-id'), null);
  assert.deepEqual(
    r.events.map((e) => e.data.method ?? 'answer'),
    ['notifications/progress', 'notifications/progress', 'answer'],
  );
  assert.deepEqual(r.events.slice(0, 2).map((e) => [e.data.params.progressToken, e.data.params.progress]), [['tok-1', 1], ['tok-1', 2]]);
  const answer = r.events.at(-1).data;
  assert.equal(answer.id, 'p');
  assert.equal(answer.result.resultType, 'complete');
  assert.equal(textOf(answer.result), 'Long running operation completed. Duration: 1 seconds, Steps: 2.');
  await poll('the one-request session to leave ctl status', async () =>
    !(await status()).clients.some((c) => c.client_name === 'e2e-stateless-progress'),
  { timeoutMs: 5_000 });
});

test(
  'raw: 2026-07-28 MCP-Protocol-Version header that does not match _meta is 400 HeaderMismatch (-32020)',
  {},
  async () => {
    const r = await rawPost(
      'everything',
      { jsonrpc: '2.0', id: 'm', method: 'tools/list', params: { _meta: stateless() } },
      { 'MCP-Protocol-Version': HANDSHAKE, 'Mcp-Method': 'tools/list' },
    );
    console.log(`# header ${HANDSHAKE} with _meta ${STATELESS}: HTTP ${r.status}, ${answerOf(r)?.error ? JSON.stringify(answerOf(r).error) : 'a result'}`);
    assert.equal(r.status, 400);
    assert.equal(r.json?.error?.code, -32020);
  },
);

test('raw: 2026-07-28 Mcp-Method and Mcp-Name must name the body\'s method and tool: absent or different is 400 HeaderMismatch (-32020)', async () => {
  const list = { jsonrpc: '2.0', id: 'h1', method: 'tools/list', params: { _meta: stateless() } };
  const call = { jsonrpc: '2.0', id: 'h2', method: 'tools/call', params: { name: 'echo', arguments: { message: 'x' }, _meta: stateless() } };
  const cases = [
    ['no Mcp-Method', list, { 'MCP-Protocol-Version': STATELESS }],
    ['Mcp-Method names another method', list, { ...modernHeaders(list), 'Mcp-Method': 'tools/call' }],
    ['tools/call without Mcp-Name', call, { 'MCP-Protocol-Version': STATELESS, 'Mcp-Method': 'tools/call' }],
    ['Mcp-Name names another tool', call, { ...modernHeaders(call), 'Mcp-Name': 'get-sum' }],
  ];
  for (const [what, message, headers] of cases) {
    const r = await rawPost('everything', message, headers);
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(r.json?.id, message.id, `${what}: the error answers the request's id`);
    assert.equal(r.json?.error?.code, -32020, `${what}: ${r.text}`);
    assert.ok(r.json.error.data?.mismatch, `${what}: error.data.mismatch says what disagreed: ${r.text}`);
  }
  // With the headers right, the same requests go through.
  assert.equal(answerOf(await rawModernPost('everything', list)).result.resultType, 'complete');
  assert.equal(textOf(answerOf(await rawModernPost('everything', call)).result), 'Echo: x');
});

test(
  'raw: 2026-07-28 unknown method is 404 with -32601',
  {},
  async () => {
    const r = await rawModernPost('everything', { jsonrpc: '2.0', id: 'u', method: 'no/such-method', params: { _meta: stateless() } });
    console.log(`# unknown method (2026-07-28): HTTP ${r.status}, ${JSON.stringify(answerOf(r)?.error)}`);
    assert.equal(answerOf(r)?.error?.code, -32601);
    assert.equal(r.status, 404);
  },
);

// ---------------------------------------------------------------- GET stream

test('SDK: the GET stream delivers server notifications (toggle-simulated-logging)', async () => {
  const { client, http } = await connect('everything', 'e2e-http-logging');
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  // The SDK opens its GET stream right after notifications/initialized; wait for it.
  await poll('the SDK GET stream to open', async () => http.find((h) => h.method === 'GET' && h.status));
  const get = http.find((h) => h.method === 'GET');
  assert.equal(get.status, 200, 'GET /mcp/everything answered 200');
  assert.match(get.contentType, /^text\/event-stream/);

  const started = performance.now();
  let on = false;
  try {
    const toggled = await client.callTool({ name: LOGGING_TOOL, arguments: {} });
    on = true;
    assert.match(textOf(toggled), /Started/i, textOf(toggled));
    // One log message at once, then one every 5 s while nothing else is in flight.
    await poll('two logging notifications', async () => logs.length >= 2, { timeoutMs: 12_000 });
    console.log(`# 2 logging notifications on the GET stream within ${(performance.now() - started).toFixed(0)} ms`);
    for (const l of logs) {
      assert.equal(typeof l.level, 'string');
      assert.match(String(l.data), /message/i);
    }
  } finally {
    if (on) {
      const off = await client.callTool({ name: LOGGING_TOOL, arguments: {} });
      assert.match(textOf(off), /Stopped/i, textOf(off));
    }
  }
  const seen = logs.length;
  await later(5_500);
  assert.equal(logs.length, seen, 'no more logging after toggling it off');
  await closeClient(client);
});

test('raw: GET with Last-Event-ID replays the events missed while the stream was closed', async () => {
  const sid = await rawInitialize('everything', 'e2e-http-resume');
  const first = await openGetStream('everything', sid);
  assert.equal(first.status, 200);
  assert.match(first.contentType, /^text\/event-stream/);
  let id = 10;
  let on = false;
  try {
    assert.match(await callToggleLogging(sid, id++), /Started/i);
    on = true;
    await poll('a logging event on the first GET stream', async () => logMessages(first.events).length >= 1);
    first.close();
    const seenIds = first.events.map((e) => e.id);
    for (const e of first.events) assert.match(e.id ?? '', /^\d+$/, `every event has an id: ${JSON.stringify(e)}`);
    const lastId = Number(seenIds.at(-1));

    // While no stream is open: two more log messages (toggling on sends one at once).
    for (let k = 0; k < 2; k++) {
      assert.match(await callToggleLogging(sid, id++), /Stopped/i);
      on = false;
      assert.match(await callToggleLogging(sid, id++), /Started/i);
      on = true;
    }
    const second = await openGetStream('everything', sid, lastId);
    assert.equal(second.status, 200);
    await poll('2 replayed logging events', async () => logMessages(second.events).length >= 2, { timeoutMs: 5_000 });
    const replayed = second.events.map((e) => Number(e.id));
    console.log(`# first stream ids ${seenIds.join(',')}; after Last-Event-ID ${lastId}: ${replayed.join(',')}`);
    for (const n of replayed) assert.ok(n > lastId, `replayed id ${n} is after ${lastId}`);
    assert.equal(new Set(replayed).size, replayed.length, 'no duplicate ids');
    assert.deepEqual(replayed, [...replayed].sort((a, b) => a - b), 'ids increase');
    for (const e of second.events) assert.equal(e.data.method, 'notifications/message', 'only GET-stream messages are replayed, not POST answers');

    // The resumed stream is live: a new message arrives after the replayed ones.
    const before = second.events.length;
    assert.match(await callToggleLogging(sid, id++), /Stopped/i);
    on = false;
    assert.match(await callToggleLogging(sid, id++), /Started/i);
    on = true;
    await poll('a live event on the resumed stream', async () => second.events.length > before);
    assert.ok(Number(second.events.at(-1).id) > Math.max(...replayed));
    second.close();
  } finally {
    if (on) await callToggleLogging(sid, id++);
    const del = await fetch(mcpUrl('everything'), { method: 'DELETE', headers: { ...auth(), 'Mcp-Session-Id': sid } });
    await del.body?.cancel();
  }
});

// ---------------------------------------------------------------- restart

test('SDK: restart mid-call — -32002 at once, and the same Client/session carries on', async () => {
  const { client, transport, wire, http } = await connect('everything', 'e2e-http-restart');
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'before' } })), 'Echo: before');
  const pidBefore = (await serverStatus('everything')).pid;
  const sid = transport.sessionId;

  let firstProgress;
  const progressed = new Promise((r) => (firstProgress = r));
  let rejectedAt;
  const call = client
    .callTool({ name: LONG_TOOL, arguments: { duration: 20, steps: 20 } }, undefined, {
      onprogress: () => firstProgress(),
      timeout: 60_000,
    })
    .then(
      (result) => ({ result }),
      (error) => {
        rejectedAt = performance.now();
        return { error };
      },
    );
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
    `# restart-error latency (HTTP): ${latency.toFixed(1)} ms from \`ctl restart\` start ` +
      `(ctl itself took ${(ctlDoneAt - restartAt).toFixed(1)} ms); error: ${outcome.error.message}`,
  );
  assert.ok(latency < 1000, `the call failed within 1 s of the restart command (took ${latency.toFixed(1)} ms)`);

  const started = performance.now();
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'after' } }, undefined, { timeout: 35_000 })), 'Echo: after');
  console.log(`# echo after the restart answered in ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(transport.sessionId, sid, 'the same session id');
  assert.equal(wire.sent.filter((m) => m.method === 'initialize').length, 1, 'the client initialized once only');
  assert.equal(http.filter((h) => h.rpc === 'initialize').length, 1, 'one initialize POST on the wire');
  assert.ok(!http.some((h) => h.status === 404), 'no request saw 404 (the session survived the restart)');

  const restarted = await poll('a new running everything process', async () => {
    const s = await serverStatus('everything');
    return s.state === 'running' && s.pid && s.pid !== pidBefore && s;
  });
  assert.ok(restarted.restarts >= 1);
  assert.ok(!pidAlive(pidBefore), `the old server process ${pidBefore} is gone`);

  // Progress works again on the new process for the same client.
  const progress = [];
  const again = await client.callTool({ name: LONG_TOOL, arguments: { duration: 1, steps: 2 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  assert.equal(textOf(again), 'Long running operation completed. Duration: 1 seconds, Steps: 2.');
  assert.deepEqual(progress, [1, 2]);
  const sentIds = wire.sent.filter((m) => 'method' in m && 'id' in m).map((m) => m.id);
  const responseIds = wire.received.filter((m) => !('method' in m)).map((m) => m.id);
  assert.deepEqual(responseIds, sentIds, 'one response per request, under the client ids');
  await closeClient(client);
});

// ---------------------------------------------------------------- MCP Inspector CLI

test('Inspector CLI: tools/list and tools/call get_current_time through the bridge', async () => {
  const listed = await inspector('--method', 'tools/list');
  const names = listed.tools.map((t) => t.name);
  assert.ok(names.includes('get_current_time'), `tools: ${names.join(', ')}`);
  assert.ok(names.includes('convert_time'), `tools: ${names.join(', ')}`);
  const schema = listed.tools.find((t) => t.name === 'get_current_time').inputSchema;
  assert.deepEqual(schema.required, ['timezone']);

  const called = await inspector('--method', 'tools/call', '--tool-name', 'get_current_time', '--tool-arg', 'timezone=UTC');
  assert.equal(called.isError, false);
  assert.equal(called.structuredContent.timezone, 'UTC');
  const skewMs = Math.abs(Date.parse(called.structuredContent.datetime) - Date.now());
  assert.ok(skewMs < 60_000, `get_current_time is close to now (off by ${skewMs} ms)`);
  assert.deepEqual(JSON.parse(textOf(called)), called.structuredContent, 'text content and structuredContent agree');
});
