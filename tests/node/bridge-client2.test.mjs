// End-to-end: the newest official MCP TypeScript client, @modelcontextprotocol/client 2.4.0,
// through a real bridgedockd at http://127.0.0.1:PORT/mcp/NAME (Streamable HTTP, bearer token),
// in front of npm's server-everything (a 2025-11-25 server) and fixtures/native-server.mjs (a
// native 2026-07-28 server), in both of the client's modes:
//
// - its default, versionNegotiation 'legacy': `initialize`, a session, 2025-11-25; what a server
//   asks of the client (sampling, elicitation, roots) comes as server→client requests;
// - `{ versionNegotiation: { mode: 'auto' } }`: it probes `server/discover` and speaks 2026-07-28
//   to bridgedock: no session, the revision's headers on every POST, what a server asks comes as
//   an input-required result that the client's retry answers (bridgedock turns a 2025 server's
//   requests into one), `subscriptions/listen` streams for change notifications.
//
// Then: capability order (a client without sampling and one with it, either first), and
// mcp-remote as Claude Desktop runs it. The daemon comes from ./daemon.mjs (one for the whole
// `npm test` run). Tests whose `todo` names an engine bug run and report without failing.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { LONG_TOOL, ctl, later, poll, port, serverStatus, startDaemon, status, stopDaemon, textOf, token } from './daemon.mjs';

const MODERN = '2026-07-28';
const HANDSHAKE = '2025-11-25';
const AUTO = { versionNegotiation: { mode: 'auto' } };
const ALL_CAPS = { sampling: {}, elicitation: { form: {} }, roots: {} };
const EVERYTHING_NAME = 'mcp-servers/everything';
const NATIVE_INFO = { name: 'bridgedock-native-2026', version: '1.2.3' }; // fixtures/native-server.mjs
const SAMPLING_TOOL = 'trigger-sampling-request';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const MCP_REMOTE = path.join(HERE, 'node_modules', '.bin', 'mcp-remote');
const MCP_REMOTE_VERSION = createRequire(import.meta.url)('mcp-remote/package.json').version;

const openClients = new Set();

// ---------------------------------------------------------------- helpers

function mcpUrl(server) {
  return `http://127.0.0.1:${port}/mcp/${server}`;
}

/** Calls `onMessage` with each JSON-RPC message of an SSE body as it arrives (comments skipped). */
async function readSse(body, onMessage) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const data = buf
        .slice(0, cut)
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''));
      buf = buf.slice(cut + 2);
      if (data.length) onMessage(JSON.parse(data.join('\n')));
    }
  }
}

/**
 * A fetch that records what a client sent and got: `wire.posts` holds each POST's JSON-RPC
 * message, the headers it carried, and the messages its answer held (a JSON body, or every
 * event of an SSE one); `wire.received` every message the client was sent, on any stream.
 * `wire.settled()` waits for the answers of the POSTs made so far (not listen streams).
 */
function recorder() {
  const wire = { posts: [], gets: 0, deletes: 0, received: [], reading: [] };
  wire.settled = () => Promise.all(wire.reading);
  wire.fetch = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const method = init.method ?? 'GET';
    if (method === 'GET') wire.gets++;
    if (method === 'DELETE') wire.deletes++;
    const post = method === 'POST' && {
      message: JSON.parse(init.body),
      protocolVersion: headers.get('mcp-protocol-version'),
      mcpMethod: headers.get('mcp-method'),
      mcpName: headers.get('mcp-name'),
      sessionId: headers.get('mcp-session-id'),
      answers: [],
    };
    if (post) wire.posts.push(post);
    const response = await fetch(url, init);
    if (post) post.status = response.status;
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('application/json') || type.startsWith('text/event-stream')) {
      const got = (message) => {
        if (post) post.answers.push(message);
        wire.received.push(message);
      };
      // A copy of the body, read as it comes: a request on the GET stream is recorded when it
      // arrives, not when the stream ends.
      const copy = response.clone();
      const reading = (type.startsWith('application/json') ? copy.text().then((t) => t && got(JSON.parse(t))) : readSse(copy.body, got))
        .catch(() => {}); // a stream the client closed
      if (post && post.message.method !== 'subscriptions/listen') wire.reading.push(reading);
    }
    return response;
  };
  return wire;
}

/**
 * A @modelcontextprotocol/client 2.4.0 Client through bridgedock. `mode` 'legacy' is the SDK's
 * default (no versionNegotiation option at all); 'auto' opts into 2026-07-28. Handlers answer
 * what `capabilities` declares, as this client, and record what they were asked in `asked`.
 */
async function connect(server, name, { mode = 'legacy', capabilities, ...options } = {}) {
  const wire = recorder();
  const client = new Client(
    { name, version: '2.4.0-e2e' },
    { ...(mode === 'auto' && AUTO), ...(capabilities && { capabilities }), ...options },
  );
  const asked = { sampling: [], elicitation: [], roots: 0 };
  if (capabilities?.sampling)
    client.setRequestHandler('sampling/createMessage', async (request) => {
      asked.sampling.push(request.params);
      return { model: `${name}-llm`, role: 'assistant', content: { type: 'text', text: `sampled by ${name}` } };
    });
  if (capabilities?.elicitation)
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.elicitation.push(request.params);
      return { action: 'accept', content: { name: 'Ada' } };
    });
  if (capabilities?.roots)
    client.setRequestHandler('roots/list', async () => {
      asked.roots++;
      return { roots: [{ uri: `file:///work/${name}`, name }] };
    });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl(server)), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: wire.fetch,
  });
  await client.connect(transport);
  const c = { client, transport, wire, asked, name };
  openClients.add(c);
  return c;
}

/** Ends a client as a tidy app does: DELETE its session (2.4.0's close() alone leaves it), close. */
async function disconnect(c) {
  if (!openClients.delete(c)) return;
  await c.transport.terminateSession();
  await c.client.close();
}

/** A JSON-RPC request (method and id) in what a client was sent: a server→client request. */
const requestsIn = (messages) => messages.filter((m) => m.method && m.id !== undefined);
const postsOf = (c, method) => c.wire.posts.filter((p) => p.message.method === method);

/**
 * A 2026-07-28 client's entry in `ctl status`. Its sessions last one request each, so it opens a
 * `subscriptions/listen` stream — a request that stays open — and reads status meanwhile.
 */
async function modernStatusEntry(c) {
  const sub = await c.client.listen({ toolsListChanged: true });
  try {
    const entry = (await status()).clients.find((x) => x.client_name === c.name);
    assert.ok(entry, `ctl status lists ${c.name} while its listen stream is open`);
    return entry;
  } finally {
    await sub.close();
  }
}

/** `ctl restart NAME`, then wait until a new process runs (ready = it answered bridgedock's handshake). */
async function restartServer(name) {
  const before = (await serverStatus(name)).pid;
  const at = Date.now();
  await ctl('restart', name);
  await poll(`a new running ${name} process`, async () => {
    const s = await serverStatus(name);
    return s.state === 'running' && s.pid && s.pid !== before;
  }, { timeoutMs: 20_000 });
  return at;
}

/** Log lines of `server` (as `ctl logs` prints them) written at or after `sinceMs`. */
async function logLinesSince(server, sinceMs) {
  return (await ctl('logs', server, '-n', '200'))
    .split('\n')
    .filter((line) => Date.parse(line.split(' ')[0]) >= sinceMs - 1);
}

// ---------------------------------------------------------------- daemon lifecycle

before(async () => {
  await startDaemon({ prefix: 'bridgedock-client2-' });
});

// A test that fails half-way must not leave its clients behind: an idle client that declared
// sampling would be asked for the next test's calls (see OTHER_CLIENT_ASKED).
afterEach(async () => {
  for (const c of openClients) await disconnect(c).catch(() => {});
});

after(async () => {
  await stopDaemon();
});

// ---------------------------------------------------------------- default mode (legacy)

test('client 2.4.0, default: initialize and a session at 2025-11-25; tools, resources, prompts, progress on server-everything', async () => {
  const c = await connect('everything', 'c2-default-basic');
  const { client, transport, wire } = c;
  assert.equal(client.getProtocolEra(), 'legacy');
  assert.equal(client.getNegotiatedProtocolVersion(), HANDSHAKE);
  assert.equal(client.getServerVersion()?.name, EVERYTHING_NAME);
  assert.equal(wire.posts[0].message.method, 'initialize', 'the default never probes: it opens with initialize');
  assert.ok(!postsOf(c, 'server/discover').length);
  assert.match(transport.sessionId ?? '', /^[\x21-\x7e]{32,}$/);

  const tools = (await client.listTools()).tools.map((t) => t.name);
  for (const t of ['echo', LONG_TOOL, SAMPLING_TOOL]) assert.ok(tools.includes(t), `${t} listed: ${tools.join(', ')}`);
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'default mode' } })), 'Echo: default mode');

  const resources = (await client.listResources()).resources;
  assert.ok(resources.length > 0, 'server-everything lists resources');
  const read = await client.readResource({ uri: resources[0].uri });
  assert.equal(read.contents[0].uri, resources[0].uri);
  assert.ok(read.contents[0].text || read.contents[0].blob, 'the resource has contents');

  const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  assert.ok(prompts.includes('simple-prompt'), prompts.join(', '));
  const prompt = await client.getPrompt({ name: 'simple-prompt' });
  assert.ok(prompt.messages.length > 0);

  const progress = [];
  const long = await client.callTool({ name: LONG_TOOL, arguments: { duration: 1, steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
  assert.equal(textOf(long), 'Long running operation completed. Duration: 1 seconds, Steps: 3.');
  assert.deepEqual(progress, [1, 2, 3]);

  await wire.settled();
  for (const p of wire.posts.slice(1)) {
    assert.equal(p.sessionId, transport.sessionId, `${p.message.method ?? 'an answer'} carried the session id`);
    assert.equal(p.protocolVersion, HANDSHAKE);
  }
  const entry = (await status()).clients.find((x) => x.client_name === 'c2-default-basic');
  assert.ok(entry, 'ctl status lists the session');
  assert.equal(entry.protocol_version, HANDSHAKE);
  assert.equal(entry.transport, 'http');
  await disconnect(c);
  assert.ok(!(await status()).clients.some((x) => x.client_name === 'c2-default-basic'), 'its DELETE ended the session');
});

test('client 2.4.0, default: server-everything\'s sampling and elicitation requests reach this client\'s handlers, and their answers reach the tool', async () => {
  const c = await connect('everything', 'c2-default-asked', { capabilities: ALL_CAPS });
  const sampled = await c.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'a haiku on bridges' } });
  assert.notEqual(sampled.isError, true, textOf(sampled));
  assert.equal(c.asked.sampling.length, 1);
  assert.equal(c.asked.sampling[0].messages[0].content.text, `Resource ${SAMPLING_TOOL} context: a haiku on bridges`);
  assert.match(textOf(sampled), /"model": "c2-default-asked-llm"/);
  assert.match(textOf(sampled), /sampled by c2-default-asked/);

  const elicited = await c.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
  assert.equal(c.asked.elicitation.length, 1);
  assert.match(c.asked.elicitation[0].message, /provide inputs/);
  assert.match(textOf(elicited), /- Name: Ada/);

  await c.wire.settled();
  // They came the 2025 way: as requests on this client's streams, once each. (A roots/list may
  // come too: bridgedock tells a 2025 server that the roots may have changed when a client that
  // can list them arrives; if it asks, this client answers.)
  const requests = requestsIn(c.wire.received).map((m) => m.method);
  assert.deepEqual(requests.filter((m) => m !== 'roots/list'), ['sampling/createMessage', 'elicitation/create']);
  await disconnect(c);
});

test('client 2.4.0, default, to the native 2026-07-28 server: what it asks comes as requests, and bridgedock retries the call for the client', async () => {
  const c = await connect('native', 'c2-default-native', { capabilities: ALL_CAPS });
  assert.equal(c.client.getProtocolEra(), 'legacy');
  assert.deepEqual(c.client.getServerVersion(), NATIVE_INFO);
  assert.equal(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'hi' } })), 'echo: hi');

  const named = await c.client.callTool({ name: 'ask_name', arguments: {} });
  assert.equal(textOf(named), 'hello Ada; state=ask-name-state-1', 'the server got the answer and its own requestState back');
  const summary = await c.client.callTool({ name: 'summarize', arguments: { text: 'long text' } });
  assert.equal(textOf(summary), 'summary: c2-default-native-llm: sampled by c2-default-native');
  assert.equal(c.asked.sampling[0].messages[0].content.text, 'Summarize: long text');
  const roots = await c.client.callTool({ name: 'list_roots', arguments: {} });
  assert.equal(textOf(roots), 'roots: file:///work/c2-default-native');

  await c.wire.settled();
  assert.deepEqual(requestsIn(c.wire.received).map((m) => m.method), ['elicitation/create', 'sampling/createMessage', 'roots/list']);
  assert.equal(postsOf(c, 'tools/call').length, 4, 'one tools/call per call: the retries with the answers are bridgedock\'s');
  await disconnect(c);
});

// ---------------------------------------------------------------- mode: 'auto' (2026-07-28)

/** What every request of a modern client carries, and what every answer it got must have. */
async function assertSpokeModern(c) {
  await c.wire.settled();
  const { posts } = c.wire;
  assert.equal(posts[0].message.method, 'server/discover', 'auto mode opens with the server/discover probe');
  assert.ok(!posts.some((p) => p.message.method === 'initialize'), 'and never initializes');
  for (const p of posts.filter((p) => p.message.id !== undefined)) {
    const what = p.message.method;
    assert.equal(p.protocolVersion, MODERN, `${what}: MCP-Protocol-Version`);
    assert.equal(p.mcpMethod, what, `${what}: Mcp-Method`);
    assert.equal(p.sessionId, null, `${what}: no session`);
    assert.equal(p.message.params?._meta?.['io.modelcontextprotocol/protocolVersion'], MODERN, `${what}: the _meta envelope`);
    assert.equal(p.status, 200, `${what}: HTTP ${p.status}`);
    for (const a of p.answers.filter((m) => m.result)) assert.ok(a.result.resultType, `${what}: resultType in ${JSON.stringify(a.result).slice(0, 200)}`);
  }
  assert.equal(c.wire.gets, 0, 'no GET stream: 2026-07-28 has none');
  assert.equal(requestsIn(c.wire.received).length, 0, 'no server→client request ever reached a modern client');
}

test('client 2.4.0, auto, to server-everything: modern after connecting (2026-07-28 in the client and in ctl status); tools, resources, prompts, progress', async () => {
  const c = await connect('everything', 'c2-auto-everything', { mode: 'auto' });
  const { client } = c;
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
  assert.equal(client.getServerVersion()?.name, EVERYTHING_NAME, 'getServerVersion names the server behind bridgedock');
  assert.ok(client.getDiscoverResult()?.supportedVersions.includes(MODERN));

  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('echo') && tools.includes(LONG_TOOL) && tools.includes(SAMPLING_TOOL), tools.join(', '));
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'modern' } })), 'Echo: modern');
  const resources = (await client.listResources()).resources;
  const read = await client.readResource({ uri: resources[0].uri });
  assert.equal(read.contents[0].uri, resources[0].uri);
  assert.ok((await client.listResourceTemplates()).resourceTemplates.length > 0);
  const prompt = await client.getPrompt({ name: 'simple-prompt' });
  assert.ok(prompt.messages.length > 0);

  const progress = [];
  const long = await client.callTool({ name: LONG_TOOL, arguments: { duration: 1, steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
  assert.equal(textOf(long), 'Long running operation completed. Duration: 1 seconds, Steps: 3.');
  assert.deepEqual(progress, [1, 2, 3]);

  const entry = await modernStatusEntry(c);
  assert.equal(entry.protocol_version, MODERN);
  assert.equal(entry.server_protocol_version, HANDSHAKE, 'bridgedock speaks 2025-11-25 to server-everything for it');
  assert.equal(entry.transport, 'http');

  await assertSpokeModern(c);
  assert.deepEqual(postsOf(c, 'tools/call').map((p) => p.mcpName), ['echo', LONG_TOOL], 'Mcp-Name names the tool');
  await disconnect(c);
});

test('client 2.4.0, auto, to the native server: modern end to end (ctl status: 2026-07-28 on both sides); tools, resources, prompts, progress', async () => {
  const c = await connect('native', 'c2-auto-native', { mode: 'auto' });
  const { client } = c;
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
  assert.deepEqual(client.getServerVersion(), NATIVE_INFO);
  assert.equal((await serverStatus('native')).protocol_revision, MODERN, 'bridgedock speaks 2026-07-28 to the native server');

  assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo', 'slow', 'ask_name', 'summarize', 'list_roots', 'touch']);
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })), 'echo: hi');
  assert.deepEqual((await client.listResources()).resources.map((r) => r.uri), ['config://app']);
  assert.equal((await client.readResource({ uri: 'config://app' })).contents[0].text, '{"theme":"dark"}');
  const greet = await client.getPrompt({ name: 'greet', arguments: { name: 'Bo' } });
  assert.equal(greet.messages[0].content.text, 'Say hi to Bo');

  const progress = [];
  const slow = await client.callTool({ name: 'slow', arguments: { steps: 3 } }, { onprogress: (p) => progress.push(p.progress) });
  assert.equal(textOf(slow), 'did 3 steps');
  assert.deepEqual(progress, [1, 2, 3]);

  const entry = await modernStatusEntry(c);
  assert.equal(entry.protocol_version, MODERN);
  assert.equal(entry.server_protocol_version, MODERN);

  await assertSpokeModern(c);
  await disconnect(c);
});

/** The tools/call POSTs of one input-required flow: the first answered input_required, the retry complete. */
function assertInputRequiredFlow(c, tool, method) {
  const calls = postsOf(c, 'tools/call').filter((p) => p.message.params.name === tool);
  assert.equal(calls.length, 2, `${tool}: the call, then one retry`);
  const [first, retry] = calls;
  const asked = first.answers.at(-1)?.result;
  assert.equal(asked?.resultType, 'input_required', `${tool}: ${JSON.stringify(first.answers)}`);
  const [key, request] = Object.entries(asked.inputRequests)[0];
  assert.equal(request.method, method);
  assert.ok(retry.message.params.inputResponses?.[key], `${tool}: the retry answers input ${key}`);
  assert.equal(retry.message.params.requestState, asked.requestState, `${tool}: the retry echoes requestState`);
  assert.notEqual(retry.message.id, first.message.id, 'the retry is a new request');
  assert.equal(retry.answers.at(-1)?.result?.resultType, 'complete');
  return { asked, retry };
}

test('client 2.4.0, auto, to server-everything: sampling and elicitation through input-required results (bridgedock holds the 2025 server\'s requests for the retry)', async () => {
  const c = await connect('everything', 'c2-auto-asked', { mode: 'auto', capabilities: ALL_CAPS });
  const sampled = await c.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'three words' } });
  assert.equal(c.asked.sampling.length, 1);
  assert.equal(c.asked.sampling[0].messages[0].content.text, `Resource ${SAMPLING_TOOL} context: three words`);
  assert.match(textOf(sampled), /"model": "c2-auto-asked-llm"/);

  const elicited = await c.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
  assert.equal(c.asked.elicitation.length, 1);
  assert.match(textOf(elicited), /- Name: Ada/);

  await c.wire.settled();
  const s = assertInputRequiredFlow(c, SAMPLING_TOOL, 'sampling/createMessage');
  assert.equal(typeof s.asked.requestState, 'string', 'bridgedock names the held call in requestState');
  assertInputRequiredFlow(c, 'trigger-elicitation-request', 'elicitation/create');
  await assertSpokeModern(c);
  await disconnect(c);
});

test('client 2.4.0, auto, to the native server: its input-required results reach the client; the retries complete (requestState byte for byte)', async () => {
  const c = await connect('native', 'c2-auto-native-asked', { mode: 'auto', capabilities: ALL_CAPS });
  assert.equal(textOf(await c.client.callTool({ name: 'ask_name', arguments: {} })), 'hello Ada; state=ask-name-state-1');
  assert.equal(c.asked.elicitation[0].message, 'What is your name?');
  assert.equal(textOf(await c.client.callTool({ name: 'summarize', arguments: { text: 'the news' } })), 'summary: c2-auto-native-asked-llm: sampled by c2-auto-native-asked');
  assert.equal(c.asked.sampling[0].messages[0].content.text, 'Summarize: the news');
  assert.equal(textOf(await c.client.callTool({ name: 'list_roots', arguments: {} })), 'roots: file:///work/c2-auto-native-asked');
  assert.equal(c.asked.roots, 1);

  await c.wire.settled();
  const named = assertInputRequiredFlow(c, 'ask_name', 'elicitation/create');
  assert.equal(named.asked.requestState, 'ask-name-state-1', 'the server\'s own requestState, untouched');
  assertInputRequiredFlow(c, 'summarize', 'sampling/createMessage');
  assertInputRequiredFlow(c, 'list_roots', 'roots/list');
  await assertSpokeModern(c);
  await disconnect(c);
});

test('client 2.4.0, auto: roots — a fresh server-everything asks for them during the call, and gets this client\'s', async () => {
  // server-everything asks a client for its roots once per process (and keeps them): restart it,
  // and wait until it has asked at start — with no client to answer, bridgedock told it no.
  const since = await restartServer('everything');
  await poll('server-everything\'s roots request at start to be refused', async () =>
    (await logLinesSince('everything', since)).some((l) => /told `everything` no: .*roots\/list/.test(l)),
  );
  const c = await connect('everything', 'c2-auto-roots', { mode: 'auto', capabilities: ALL_CAPS });
  const roots = await c.client.callTool({ name: 'get-roots-list', arguments: {} });
  assert.match(textOf(roots), /Current MCP Roots \(1 total\)/);
  assert.match(textOf(roots), /URI: file:\/\/\/work\/c2-auto-roots/);
  assert.equal(c.asked.roots, 1);
  await c.wire.settled();
  assertInputRequiredFlow(c, 'get-roots-list', 'roots/list');
  await disconnect(c);
});

test('client 2.4.0, auto: listen() receives tools list_changed and resources/updated after the servers change them', async () => {
  // The native server announces both when its `touch` tool runs.
  const c = await connect('native', 'c2-auto-listen', { mode: 'auto' });
  const seen = [];
  c.client.setNotificationHandler('notifications/tools/list_changed', () => seen.push('tools/list_changed'));
  c.client.setNotificationHandler('notifications/resources/updated', (n) => seen.push(`resources/updated ${n.params.uri}`));
  const sub = await c.client.listen({ toolsListChanged: true, resourceSubscriptions: ['config://app'] });
  assert.deepEqual(sub.honoredFilter, { toolsListChanged: true, resourceSubscriptions: ['config://app'] });
  const listening = (await status()).clients.find((x) => x.client_name === 'c2-auto-listen');
  assert.equal(listening?.protocol_version, MODERN, 'the open listen stream is a session in ctl status');
  assert.deepEqual(seen, [], 'nothing before the change');
  assert.equal(textOf(await c.client.callTool({ name: 'touch', arguments: {} })), 'touched');
  await poll('both notifications on the listen stream', async () => seen.length >= 2, { timeoutMs: 5_000, intervalMs: 20 });
  assert.deepEqual(seen.sort(), ['resources/updated config://app', 'tools/list_changed']);
  await sub.close();
  assert.equal(await sub.closed, 'local');

  // server-everything (2025-11-25): the listen's resourceSubscriptions become its
  // resources/subscribe; its simulated updates then reach the stream.
  const e = await connect('everything', 'c2-auto-listen-everything', { mode: 'auto' });
  const updated = [];
  e.client.setNotificationHandler('notifications/resources/updated', (n) => updated.push(n.params.uri));
  const uri = (await e.client.listResources()).resources[0].uri;
  const sub2 = await e.client.listen({ resourceSubscriptions: [uri] });
  assert.deepEqual(sub2.honoredFilter.resourceSubscriptions, [uri]);
  let on = false;
  try {
    assert.match(textOf(await e.client.callTool({ name: 'toggle-subscriber-updates', arguments: {} })), /^Started/);
    on = true;
    await poll(`resources/updated for ${uri}`, async () => updated.length >= 1, { timeoutMs: 8_000, intervalMs: 20 });
    assert.ok(updated.every((u) => u === uri), updated.join(', '));
  } finally {
    if (on) assert.match(textOf(await e.client.callTool({ name: 'toggle-subscriber-updates', arguments: {} })), /^Stopped/);
    await sub2.close();
  }
  await disconnect(c);
  await disconnect(e);
});

test('client 2.4.0, auto: the listChanged option opens the listen stream itself and re-lists tools after a change', async () => {
  let changed;
  const refreshed = new Promise((resolve) => (changed = resolve));
  const c = await connect('native', 'c2-auto-listchanged', {
    mode: 'auto',
    listChanged: { tools: { onChanged: (error, tools) => changed({ error, tools }) } },
  });
  assert.deepEqual(c.client.autoOpenedSubscription?.honoredFilter, { toolsListChanged: true });
  await c.client.callTool({ name: 'touch', arguments: {} });
  const outcome = await Promise.race([refreshed, later(5_000, 'timeout')]);
  assert.notEqual(outcome, 'timeout', 'onChanged was called within 5 s of the change');
  assert.ok(!outcome.error, `no error: ${outcome.error}`);
  assert.ok(outcome.tools.some((t) => t.name === 'touch'), 'with the re-listed tools');
  assert.equal(postsOf(c, 'tools/list').length, 1, 'the SDK re-listed them on its own');
  await disconnect(c);
});

// ---------------------------------------------------------------- capability order

/** A promise's outcome as `{ result }` or `{ error }`. */
const settle = (promise) => promise.then((result) => ({ result }), (error) => ({ error }));

/** Why the "nobody else is asked" checks are todo while a capable client is handshake-era. */
const OTHER_CLIENT_ASKED =
  'engine bug: a 2025-11-25 server\'s sampling/createMessage sent during the call of a client that did not declare ' +
  'sampling goes to another, idle 2025-11-25 client that did (bridge/router/input.rs request_target falls back to the ' +
  'most recently active capable session although a call is in flight) — the caller gets that client\'s sample as ' +
  'its result, or, when that client left without ending its session, waits until its own timeout';

/**
 * bridgedock initializes every server itself, declaring sampling, so which client comes first
 * no longer decides what the server shows. Each order starts on a fresh server-everything
 * (which registers trigger-sampling-request only for a client that declared sampling).
 * `capableMode` is the era of the client with sampling; the clients without it are one of each.
 */
async function capabilityOrder(t, { withoutFirst, capableMode }) {
  await restartServer('everything');
  const tag = `${withoutFirst ? 'without-first' : 'with-first'}-${capableMode}`;
  const connectWithout = async () => [
    await connect('everything', `c2-nosampling-legacy-${tag}`),
    await connect('everything', `c2-nosampling-auto-${tag}`, { mode: 'auto' }),
  ];
  const connectWith = () => connect('everything', `c2-sampling-${tag}`, { mode: capableMode, capabilities: { sampling: {} } });
  let without, capable;
  if (withoutFirst) {
    without = await connectWithout();
    capable = await connectWith();
  } else {
    capable = await connectWith();
    without = await connectWithout();
  }
  const [legacyWithout, autoWithout] = without;

  for (const c of [...without, capable]) {
    const tools = (await c.client.listTools()).tools.map((x) => x.name);
    assert.ok(tools.includes(SAMPLING_TOOL), `${c.name} sees ${SAMPLING_TOOL}: ${tools.join(', ')}`);
  }
  const sampled = await capable.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'mine' } });
  assert.match(textOf(sampled), new RegExp(`"model": "${capable.name}-llm"`));
  assert.deepEqual(capable.asked.sampling.map((p) => p.messages[0].content.text), [`Resource ${SAMPLING_TOOL} context: mine`]);

  await t.test(
    'a client without sampling that calls it gets a clear error, and nobody is asked to sample for it',
    capableMode === 'legacy' ? { todo: OTHER_CLIENT_ASKED } : {},
    async () => {
      // Both calls first, bounded (the bug can make one wait on a client that never answers),
      // then what each caller got.
      const legacyOutcome = await settle(legacyWithout.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'theirs' } }, { timeout: 10_000 }));
      const autoOutcome = await settle(autoWithout.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'theirs too' } }, { timeout: 10_000 }));
      assert.deepEqual(
        capable.asked.sampling.map((p) => p.messages[0].content.text),
        [`Resource ${SAMPLING_TOOL} context: mine`],
        `${capable.name} was asked to sample for its own call only`,
      );
      const legacyText = legacyOutcome.result ? textOf(legacyOutcome.result) : legacyOutcome.error.message;
      assert.equal(legacyOutcome.result?.isError, true, `a 2025-11-25 caller gets the tool's error, got: ${legacyText}`);
      assert.match(legacyText, /`sampling` capability/);
      assert.equal(autoOutcome.error?.code, -32021, `a 2026-07-28 caller gets MissingRequiredClientCapability, got: ${JSON.stringify(autoOutcome.result ?? autoOutcome.error.message)}`);
      assert.deepEqual(autoOutcome.error.data?.requiredCapabilities, { sampling: {} });
    },
  );
  for (const c of without) {
    await c.wire.settled();
    assert.deepEqual(requestsIn(c.wire.received), [], `${c.name} never received a server→client request`);
  }
  for (const c of [...without, capable]) await disconnect(c);
}

test('capability order: a client without sampling first, then one with it (2026-07-28) — both see the sampling tool, the capable one samples', (t) =>
  capabilityOrder(t, { withoutFirst: true, capableMode: 'auto' }));
test('capability order: a client with sampling (2026-07-28) first, then ones without — the same', (t) =>
  capabilityOrder(t, { withoutFirst: false, capableMode: 'auto' }));
test('capability order: a client without sampling first, then one with it (2025-11-25) — both see the sampling tool, the capable one samples', (t) =>
  capabilityOrder(t, { withoutFirst: true, capableMode: 'legacy' }));
test('capability order: a client with sampling (2025-11-25) first, then ones without — the same', (t) =>
  capabilityOrder(t, { withoutFirst: false, capableMode: 'legacy' }));

test('a client that quit without ending its session is never asked for another client\'s call', { todo: OTHER_CLIENT_ASKED }, async () => {
  const gone = await connect('everything', 'c2-quit-without-delete', { capabilities: { sampling: {} } });
  openClients.delete(gone);
  await gone.client.close(); // as an app quits: 2.4.0's close() sends no DELETE, the session stays
  const caller = await connect('everything', 'c2-caller-after-quit');
  try {
    const outcome = await settle(caller.client.callTool({ name: SAMPLING_TOOL, arguments: { prompt: 'x' } }, { timeout: 5_000 }));
    const text = outcome.result ? textOf(outcome.result) : outcome.error.message;
    assert.equal(outcome.result?.isError, true, `the caller gets the tool's error at once, got: ${text}`);
    assert.match(text, /`sampling` capability/);
  } finally {
    await disconnect(caller);
    const del = await fetch(mcpUrl('everything'), {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': gone.transport.sessionId },
    });
    assert.equal(del.status, 200, 'the quit client\'s session is ended by hand');
  }
});

// ---------------------------------------------------------------- mcp-remote (Claude Desktop)

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
