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
// The client and its recording come from ./client2.mjs, the daemon from ./daemon.mjs (one for
// the whole `npm test` run).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LONG_TOOL, later, poll, serverStatus, status, textOf } from './daemon.mjs';
import {
  ALL_CAPS,
  EVERYTHING_NAME,
  HANDSHAKE,
  MODERN,
  NATIVE_INFO,
  SAMPLING_TOOL,
  connect,
  disconnect,
  logLinesSince,
  postsOf,
  requestsIn,
  restartServer,
  useDaemon,
} from './client2.mjs';

useDaemon('bridgedock-client2-');

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
