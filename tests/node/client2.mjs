// Shared by the suites of @modelcontextprotocol/client 2.4.0 through bridgedock
// (bridge-client2.test.mjs, capability-order.test.mjs): a Client that records its HTTP
// traffic, answers what it declared as itself, and ends its session as a tidy app does; and
// the daemon hooks that make sure no client outlives its test.

import { before, after, afterEach } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { ctl, poll, port, serverStatus, startDaemon, stopDaemon, token } from './daemon.mjs';

export const MODERN = '2026-07-28';
export const HANDSHAKE = '2025-11-25';
export const AUTO = { versionNegotiation: { mode: 'auto' } };
export const ALL_CAPS = { sampling: {}, elicitation: { form: {} }, roots: {} };
export const EVERYTHING_NAME = 'mcp-servers/everything';
export const NATIVE_INFO = { name: 'bridgedock-native-2026', version: '1.2.3' }; // fixtures/native-server.mjs
export const SAMPLING_TOOL = 'trigger-sampling-request';

const openClients = new Set();

export function mcpUrl(server) {
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
export async function connect(server, name, { mode = 'legacy', capabilities, ...options } = {}) {
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
export async function disconnect(c) {
  if (!openClients.delete(c)) return;
  await c.transport.terminateSession();
  await c.client.close();
}

/** Ends a client as an app that quits does: 2.4.0's close() sends no DELETE, the session stays. */
export async function quitWithoutEndingSession(c) {
  openClients.delete(c);
  await c.client.close();
}

/** A JSON-RPC request (method and id) in what a client was sent: a server→client request. */
export const requestsIn = (messages) => messages.filter((m) => m.method && m.id !== undefined);
export const postsOf = (c, method) => c.wire.posts.filter((p) => p.message.method === method);

/** `ctl restart NAME`, then wait until a new process runs (ready = it answered bridgedock's handshake). */
export async function restartServer(name) {
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
export async function logLinesSince(server, sinceMs) {
  return (await ctl('logs', server, '-n', '200'))
    .split('\n')
    .filter((line) => Date.parse(line.split(' ')[0]) >= sinceMs - 1);
}

/** A promise's outcome as `{ result }` or `{ error }`. */
export const settle = (promise) => promise.then((result) => ({ result }), (error) => ({ error }));

/**
 * The daemon of daemon.mjs for this file, and the rule that a test that fails half-way leaves
 * no client behind.
 */
export function useDaemon(prefix) {
  before(() => startDaemon({ prefix }));
  afterEach(async () => {
    for (const c of openClients) await disconnect(c).catch(() => {});
  });
  after(() => stopDaemon());
}
