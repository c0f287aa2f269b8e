#!/usr/bin/env node
// TEST FIXTURE: the MCP conformance "everything server" as a 2025-11-25 (handshake-era) server,
// on @modelcontextprotocol/sdk 1.32.2's low-level Server. It exposes the surface in
// surface.mjs: everything @modelcontextprotocol/conformance's server scenarios call, including
// the 2026-07-28 ones. Where a 2026-07-28 server would answer "input required" (SEP-2322), this
// one does what a 2025 server does: it asks the client itself with server->client requests
// (elicitation/create, sampling/createMessage, roots/list) and answers once it has the replies.
// Behind bridgedock, the bridge is what turns that into the 2026-07-28 wire.
//
//   node legacy-everything.mjs --stdio
//   node legacy-everything.mjs --http [--port N]   (0 = a free port; prints the URL on stdout)
//
// Over HTTP it is stateful Streamable HTTP (one session per initialize, an event store for
// resumability, retry 5000 ms) and checks Host/Origin against DNS rebinding, like the suite's
// own reference server (which is not published, so this stands in for it).
// CONFORMANCE_BREAK=tool1,tool2 makes those tools fail in --stdio mode only: it exists to
// check that tests/conformance/run notices a scenario failing behind bridgedock.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import * as S from './surface.mjs';

const log = (...a) => process.stderr.write(`[legacy-everything] ${a.join(' ')}\n`);
const RESULT_SCHEMA = { 'elicitation/create': ElicitResultSchema, 'sampling/createMessage': CreateMessageResultSchema, 'roots/list': ListRootsResultSchema };

/** One MCP server (one per HTTP session, one for stdio). `ctl` reaches the HTTP transport. */
function createServer(ctl = {}) {
  const server = new Server(S.SERVER_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
  });
  const subscriptions = new Set();
  const note = (n) => server.notification(n).catch(() => {});
  const info = (data) => ({ method: 'notifications/message', params: { level: 'info', logger: S.LOGGER, data } });

  /** Sends the client every request in `inputs` ({key: {method, params}}) at once; returns {key: result}. */
  async function askClient(extra, inputs) {
    const keys = Object.keys(inputs);
    const answers = await Promise.all(
      keys.map((k) => {
        const { method, params } = inputs[k];
        return extra.sendRequest({ method, params: method === 'elicitation/create' ? { mode: 'form', ...params } : params }, RESULT_SCHEMA[method]);
      }),
    );
    return Object.fromEntries(keys.map((k, i) => [k, answers[i]]));
  }
  const summary = (inputs, answers) => Object.entries(answers).map(([k, a]) => `${k}: ${S.describeAnswer(inputs[k].method, a)}`).join('; ');
  /** A tool that needs `inputs` from the client: asks, then answers with what it got. */
  async function withInputs(extra, inputs, done = (answers) => S.text(summary(inputs, answers))) {
    try {
      return done(await askClient(extra, inputs));
    } catch (e) {
      return { isError: true, content: [{ type: 'text', text: `could not get the input it needs from the client: ${e.message}` }] };
    }
  }
  const elicit = async (extra, params, label) => {
    try {
      const r = await extra.sendRequest({ method: 'elicitation/create', params: { mode: 'form', ...params } }, ElicitResultSchema);
      return S.text(`${label}: action=${r.action}, content=${JSON.stringify(r.content || {})}`);
    } catch (e) {
      return S.text(`Elicitation not supported or error: ${e.message}`);
    }
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: Object.entries(S.TOOLS).map(([name, t]) => ({ name, ...t })) }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const { name, arguments: args = {} } = req.params;
    if (ctl.broken?.has(name)) throw new McpError(ErrorCode.InternalError, `${name} broken on purpose (CONFORMANCE_BREAK)`);
    const caps = server.getClientCapabilities() ?? {};
    switch (name) {
      case 'test_simple_text':
        return S.text(S.SIMPLE_TEXT);
      case 'test_image_content':
        return S.IMAGE_RESULT;
      case 'test_audio_content':
        return S.AUDIO_RESULT;
      case 'test_embedded_resource':
        return S.EMBEDDED_RESULT;
      case 'test_multiple_content_types':
        return S.MIXED_RESULT;
      case 'test_tool_with_logging':
      case 'test_logging_tool':
        for (const [i, msg] of S.LOG_MESSAGES.entries()) {
          if (i) await S.sleep(50);
          await extra.sendNotification(info(msg));
        }
        return S.text('Tool with logging executed successfully');
      case 'test_tool_with_progress': {
        const token = extra._meta?.progressToken;
        for (const p of [0, 50, 100]) {
          if (p) await S.sleep(50);
          if (token !== undefined)
            await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: p, total: 100, message: `Completed step ${p} of 100` } });
        }
        return S.text(String(token));
      }
      case 'test_error_handling':
        return S.ERROR_RESULT;
      case 'test_reconnection':
        // Over HTTP: close this request's SSE stream (the client resumes with Last-Event-ID).
        ctl.closeStream?.(extra.requestId);
        await S.sleep(100);
        return S.text(S.RECONNECTION_TEXT);
      case 'test_sampling':
        try {
          const r = await extra.sendRequest(
            { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: args.prompt } }], maxTokens: 100 } },
            CreateMessageResultSchema,
          );
          return S.text(`LLM response: ${r.content?.text ?? 'No response'}`);
        } catch (e) {
          return S.text(`Sampling not supported or error: ${e.message}`);
        }
      case 'test_elicitation':
        return elicit(extra, S.ELICIT.test_elicitation(args.message), 'User response');
      case 'test_elicitation_sep1034_defaults':
      case 'test_elicitation_sep1330_enums':
        return elicit(extra, S.ELICIT[name](), 'Elicitation completed');
      case 'json_schema_2020_12_tool':
        return S.text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`);
      case 'test_header_param':
        return S.text(`region: ${args.region}`);

      // What the 2026-07-28 input-required-result-* scenarios call: a 2025 server asks the client.
      case 'test_input_required_result_elicitation':
      case 'test_streaming_elicitation':
        return withInputs(extra, S.INPUTS.test_input_required_result_elicitation, (a) => S.text(`Hello, ${a.user_name.content?.name}!`));
      case 'test_input_required_result_request_state':
        return withInputs(extra, S.INPUTS[name], (a) => S.text(`state-ok: ${S.describeAnswer('elicitation/create', a.confirm)}`));
      case 'test_input_required_result_sampling':
      case 'test_input_required_result_list_roots':
      case 'test_input_required_result_multiple_inputs': // all three requests at once, as one round
      case 'test_input_required_result_tampered_state':
        return withInputs(extra, S.INPUTS[name]);
      case 'test_input_required_result_multi_round':
        return withInputs(extra, S.INPUTS.multi_round_step1, (a1) =>
          withInputs(extra, S.INPUTS.multi_round_step2, (a2) => S.text(`${a1.step1.content?.name} likes ${a2.step2.content?.color}`)),
        );
      case 'test_input_required_result_capabilities': {
        // Only what the client declared at initialize (behind a bridge: what the bridge declared).
        const inputs = {
          ...(caps.sampling ? S.INPUTS.capabilities_sampling : {}),
          ...(caps.elicitation ? S.INPUTS.capabilities_elicitation : {}),
        };
        if (!Object.keys(inputs).length) return S.text('the client declared neither sampling nor elicitation: nothing to ask');
        return withInputs(extra, inputs);
      }
      case 'test_missing_capability':
        if (!caps.sampling) throw new McpError(ErrorCode.InvalidRequest, 'test_missing_capability needs the sampling capability, which the client did not declare');
        return withInputs(extra, S.INPUTS.test_missing_capability);
      case 'test_trigger_tool_change':
        await server.sendToolListChanged();
        return S.text('tools/list_changed sent');
      case 'test_trigger_prompt_change':
        await server.sendPromptListChanged();
        return S.text('prompts/list_changed sent');
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: S.RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [S.TEMPLATE] }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const contents = S.readResource(req.params.uri);
    if (contents) return { contents };
    // -32002 is 2025-11-25's "resource not found"; 2026-07-28 (SEP-2164) says -32602.
    throw new McpError(-32002, `Resource not found: ${req.params.uri}`, { uri: req.params.uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    note(info(`Subscribed to resource: ${req.params.uri}`));
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    note(info(`Unsubscribed from resource: ${req.params.uri}`));
    return {};
  });
  // test://watched-resource "changes" every 3 s: subscribers are told.
  const timer = setInterval(() => {
    if (subscriptions.has('test://watched-resource')) note({ method: 'notifications/resources/updated', params: { uri: 'test://watched-resource' } });
  }, 3000);
  timer.unref();
  server.onclose = () => clearInterval(timer);

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: S.PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
    const { name, arguments: a = {} } = req.params;
    if (name === 'test_input_required_result_prompt') {
      const answers = await askClient(extra, S.INPUTS.prompt).catch((e) => {
        throw new McpError(ErrorCode.InternalError, `could not get the input this prompt needs from the client: ${e.message}`);
      });
      return { messages: S.contextPrompt(answers.user_context.content?.context) };
    }
    const messages = S.promptMessages(name, a);
    if (!messages) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    return { messages };
  });

  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    note(info(`Log level set to: ${req.params.level}`));
    return {};
  });
  server.setRequestHandler(CompleteRequestSchema, async () => ({ completion: { values: [], total: 0, hasMore: false } }));
  return server;
}

// ------------------------------------------------------------------ transports

async function serveStdio() {
  const broken = new Set((process.env.CONFORMANCE_BREAK || '').split(',').filter(Boolean));
  await createServer({ broken }).connect(new StdioServerTransport());
  log('serving over stdio');
}

/** In-memory event store (SEP-1699 resumability): event ids are `${streamId}::${seq}`. */
function eventStore() {
  const events = [];
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}::${String(++seq).padStart(12, '0')}`;
      events.push({ eventId, streamId, message });
      return eventId;
    },
    async getStreamIdForEventId(eventId) {
      return eventId.split('::')[0];
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = lastEventId.split('::')[0];
      for (const e of events) if (e.streamId === streamId && e.eventId > lastEventId && Object.keys(e.message).length) await send(e.eventId, e.message);
      return streamId;
    },
  };
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const hostName = (h) => /^(.*?)(?::\d+)?$/.exec(h)[1].toLowerCase();

async function serveHttp(port) {
  const sessions = new Map(); // session id -> transport
  const reply = (res, status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const rpcError = (res, status, code, message) => reply(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });

  const httpServer = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname !== '/mcp') return reply(res, 404, { error: 'not found' });
      // DNS-rebinding protection: Host and (if present) Origin must name loopback.
      const origin = req.headers.origin;
      if (!LOCAL_HOSTS.has(hostName(req.headers.host || ''))) return rpcError(res, 403, -32000, `Invalid Host header: ${req.headers.host}`);
      if (origin && !LOCAL_HOSTS.has(hostName(origin.replace(/^https?:\/\//, '')))) return rpcError(res, 403, -32000, `Invalid Origin header: ${origin}`);

      let body;
      if (req.method === 'POST') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return rpcError(res, 400, -32700, 'Parse error');
        }
      }
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? sessions.get(sid) : undefined;
      if (sid && !transport) return rpcError(res, 404, -32001, 'Session not found');
      if (!transport) {
        if (req.method !== 'POST' || body?.method !== 'initialize') return rpcError(res, 400, -32000, 'Bad Request: no valid session ID');
        const ctl = {};
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          eventStore: eventStore(),
          retryInterval: 5000,
          onsessioninitialized: (id) => sessions.set(id, transport),
        });
        ctl.closeStream = (requestId) => transport.closeSSEStream(requestId);
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await createServer(ctl).connect(transport);
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      log('error:', e?.stack || e);
      if (!res.headersSent) rpcError(res, 500, -32603, 'Internal server error');
    }
  });
  await new Promise((r) => httpServer.listen(port, '127.0.0.1', r));
  process.stdout.write(`legacy-everything: listening on http://127.0.0.1:${httpServer.address().port}/mcp\n`);
  const stop = () => {
    for (const t of sessions.values()) t.close().catch(() => {});
    httpServer.closeAllConnections?.();
    httpServer.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const argv = process.argv.slice(2);
if (argv.includes('--http')) {
  const i = argv.indexOf('--port');
  await serveHttp(i >= 0 ? Number(argv[i + 1]) : 3000);
} else if (argv.includes('--stdio')) {
  await serveStdio();
} else {
  process.stderr.write('usage: legacy-everything.mjs --stdio | --http [--port N]\n');
  process.exit(2);
}
