#!/usr/bin/env node
// TEST FIXTURE: the MCP conformance "everything server" as a native 2026-07-28 server, on
// @modelcontextprotocol/server 2.4.0 (McpServer; serveStdio; createMcpHandler behind
// @modelcontextprotocol/node). Same surface as legacy-everything.mjs (see surface.mjs), but the
// tools and the prompt that need input from the client use the revision's multi round-trip
// (SEP-2322): they return `inputRequired(...)` and read `ctx.mcpReq.inputResponses` when the
// client retries; requestState is HMAC-sealed (createRequestStateCodec). Caching hints, the
// _meta envelope, server/discover, subscriptions/listen and the SEP-2243 headers are the SDK's.
//
//   node modern-everything.mjs --stdio [--modern-only]
//   node modern-everything.mjs --http [--port N] [--modern-only]   (0 = a free port; prints the URL)
//
// It serves both eras (the SDK runs a 2025 client's initialize through its legacy shim, which
// turns inputRequired into server->client requests). --modern-only refuses 2025-era requests,
// so a client (or bridge) must speak 2026-07-28 to it.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  McpServer,
  ResourceTemplate,
  ResourceNotFoundError,
  acceptedContent,
  createMcpHandler,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
} from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { localhostHostValidation, localhostOriginValidation, toNodeHandler } from '@modelcontextprotocol/node';
import * as S from './surface.mjs';

const log = (...a) => process.stderr.write(`[modern-everything] ${a.join(' ')}\n`);
// requestState is sealed with a per-process key: one process serves every round of a flow here.
const stateCodec = createRequestStateCodec({ key: randomBytes(32) });

/** surface.mjs's `{key: {method, params}}` as the SDK's embedded input requests. */
function asInputRequests(inputs) {
  const build = {
    'elicitation/create': (p) => inputRequired.elicit(p),
    'sampling/createMessage': (p) => inputRequired.createMessage(p),
    'roots/list': () => inputRequired.listRoots(),
  };
  return Object.fromEntries(Object.entries(inputs).map(([k, { method, params }]) => [k, build[method](params)]));
}
/** The answers to `inputs` the client sent with this retry, or undefined if any is missing. */
function answersTo(ctx, inputs) {
  const answers = {};
  for (const k of Object.keys(inputs)) {
    const view = inputResponse(ctx.mcpReq.inputResponses, k);
    if (view.kind === 'missing') return undefined;
    answers[k] = view.kind === 'elicit' ? view : view.kind === 'sampling' ? view.result : { roots: view.roots };
  }
  return answers;
}
const summary = (inputs, answers) => Object.entries(answers).map(([k, a]) => `${k}: ${S.describeAnswer(inputs[k].method, a)}`).join('; ');
/** A handler that needs `inputs`: asks for them (input_required) until the client sends them all. */
const needs = (inputs, done = (answers) => S.text(summary(inputs, answers)), state) => async (ctx) => {
  const answers = answersTo(ctx, inputs);
  if (answers) return done(answers, ctx);
  return inputRequired({ inputRequests: asInputRequests(inputs), ...(state && { requestState: await stateCodec.mint(state) }) });
};

/** The server, for one HTTP request or one stdio connection. `notify` announces list changes. */
function createServer(notify) {
  const mcp = new McpServer(S.SERVER_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
    requestState: { verify: stateCodec.verify },
  });
  const tool = (name, handler) => {
    const { description, inputSchema } = S.TOOLS[name];
    // fromJsonSchema keeps the JSON Schema as written (tools/list shows it unchanged).
    mcp.registerTool(name, { description, inputSchema: fromJsonSchema(inputSchema) }, (args, ctx) => handler(ctx, args));
  };
  const log3 = async (ctx) => {
    for (const [i, msg] of S.LOG_MESSAGES.entries()) {
      if (i) await S.sleep(50);
      await ctx.mcpReq.log('info', msg, S.LOGGER); // the SDK drops these unless the request set a log level
    }
    return S.text('Tool with logging executed successfully');
  };

  tool('test_simple_text', () => S.text(S.SIMPLE_TEXT));
  tool('test_image_content', () => S.IMAGE_RESULT);
  tool('test_audio_content', () => S.AUDIO_RESULT);
  tool('test_embedded_resource', () => S.EMBEDDED_RESULT);
  tool('test_multiple_content_types', () => S.MIXED_RESULT);
  tool('test_tool_with_logging', log3);
  tool('test_logging_tool', log3);
  tool('test_tool_with_progress', async (ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (const p of [0, 50, 100]) {
      if (p) await S.sleep(50);
      if (token !== undefined)
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: p, total: 100, message: `Completed step ${p} of 100` } });
    }
    return S.text(String(token));
  });
  tool('test_error_handling', () => S.ERROR_RESULT);
  tool('test_reconnection', async (ctx) => {
    ctx.http?.closeSSE?.();
    await S.sleep(100);
    return S.text(S.RECONNECTION_TEXT);
  });
  tool('json_schema_2020_12_tool', (ctx, args) => S.text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`));
  tool('test_header_param', (ctx, args) => S.text(`region: ${args.region}`));

  // The 2025 scenarios' sampling and elicitation tools, written once for both eras: on a 2025
  // connection the SDK's legacy shim asks the client with real server->client requests.
  tool('test_sampling', (ctx, args) => {
    const inputs = { llm: { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: args.prompt } }], maxTokens: 100 } } };
    return needs(inputs, (a) => S.text(`LLM response: ${a.llm.content?.text ?? 'No response'}`))(ctx);
  });
  const elicitTool = (name, params, label) =>
    tool(name, (ctx, args) => {
      const inputs = { answer: { method: 'elicitation/create', params: params(args) } };
      return needs(inputs, (a) => S.text(`${label}: action=${a.answer.action}, content=${JSON.stringify(a.answer.content || {})}`))(ctx);
    });
  elicitTool('test_elicitation', (args) => S.ELICIT.test_elicitation(args.message), 'User response');
  elicitTool('test_elicitation_sep1034_defaults', () => S.ELICIT.test_elicitation_sep1034_defaults(), 'Elicitation completed');
  elicitTool('test_elicitation_sep1330_enums', () => S.ELICIT.test_elicitation_sep1330_enums(), 'Elicitation completed');

  // SEP-2322: the input-required-result-* scenarios.
  const hello = (a) => S.text(`Hello, ${a.user_name.content?.name}!`);
  tool('test_input_required_result_elicitation', needs(S.INPUTS.test_input_required_result_elicitation, hello));
  tool('test_streaming_elicitation', needs(S.INPUTS.test_streaming_elicitation, hello));
  tool('test_input_required_result_sampling', needs(S.INPUTS.test_input_required_result_sampling));
  tool('test_input_required_result_list_roots', needs(S.INPUTS.test_input_required_result_list_roots));
  tool(
    'test_input_required_result_request_state',
    needs(
      S.INPUTS.test_input_required_result_request_state,
      (a, ctx) => S.text(`${ctx.mcpReq.requestState()?.flow === 'confirm' ? 'state-ok' : 'state-missing'}: ${S.describeAnswer('elicitation/create', a.confirm)}`),
      { flow: 'confirm' },
    ),
  );
  tool('test_input_required_result_multiple_inputs', needs(S.INPUTS.test_input_required_result_multiple_inputs, undefined, { flow: 'multiple' }));
  // Tampered state never reaches the handler: the requestState.verify hook answers -32602.
  tool('test_input_required_result_tampered_state', needs(S.INPUTS.test_input_required_result_tampered_state, undefined, { flow: 'tamper' }));
  tool('test_input_required_result_multi_round', async (ctx) => {
    const state = ctx.mcpReq.requestState();
    if (state?.round === 2) {
      const a2 = answersTo(ctx, S.INPUTS.multi_round_step2);
      if (a2) return S.text(`${state.name} likes ${a2.step2.content?.color}`);
      return inputRequired({ inputRequests: asInputRequests(S.INPUTS.multi_round_step2), requestState: await stateCodec.mint(state) });
    }
    const a1 = answersTo(ctx, S.INPUTS.multi_round_step1);
    const next = a1 ? { round: 2, name: a1.step1.content?.name } : { round: 1 };
    const inputs = a1 ? S.INPUTS.multi_round_step2 : S.INPUTS.multi_round_step1;
    return inputRequired({ inputRequests: asInputRequests(inputs), requestState: await stateCodec.mint(next) });
  });
  tool('test_input_required_result_capabilities', (ctx) => {
    // Ask only for what this request's _meta says the client can do.
    const caps = ctx.mcpReq.envelope?.['io.modelcontextprotocol/clientCapabilities'] ?? {};
    const inputs = { ...(caps.sampling ? S.INPUTS.capabilities_sampling : {}), ...(caps.elicitation ? S.INPUTS.capabilities_elicitation : {}) };
    if (!Object.keys(inputs).length) return S.text('the client declared neither sampling nor elicitation: nothing to ask');
    return needs(inputs)(ctx);
  });
  // Needs sampling; the SDK answers -32021 (MissingRequiredClientCapability) when the request's
  // _meta does not declare it.
  tool('test_missing_capability', needs(S.INPUTS.test_missing_capability));
  tool('test_trigger_tool_change', () => (notify.toolsChanged(), S.text('tools/list_changed sent')));
  tool('test_trigger_prompt_change', () => (notify.promptsChanged(), S.text('prompts/list_changed sent')));

  // Resources. A miss is the SDK's ResourceNotFoundError: -32602 with data.uri (SEP-2164).
  for (const r of S.RESOURCES) {
    const { uri, name, ...meta } = r;
    mcp.registerResource(name, uri, meta, (u) => ({ contents: S.readResource(u.href) }));
  }
  const { uriTemplate, name: templateName, ...templateMeta } = S.TEMPLATE;
  mcp.registerResource(templateName, new ResourceTemplate(uriTemplate, { list: undefined }), templateMeta, (u) => {
    const contents = S.readResource(u.href);
    if (!contents) throw new ResourceNotFoundError(u.href);
    return { contents };
  });

  // Prompts.
  for (const p of S.PROMPTS) {
    const argsSchema = p.arguments && fromJsonSchema({
      type: 'object',
      properties: Object.fromEntries(p.arguments.map((a) => [a.name, { type: 'string', description: a.description }])),
      required: p.arguments.filter((a) => a.required).map((a) => a.name),
    });
    const messages =
      p.name === 'test_input_required_result_prompt'
        ? needs(S.INPUTS.prompt, (a) => ({ messages: S.contextPrompt(a.user_context.content?.context) }))
        : (args) => ({ messages: S.promptMessages(p.name, args) });
    mcp.registerPrompt(p.name, { description: p.description, ...(argsSchema && { argsSchema }) }, argsSchema ? (args, ctx) => messages(args, ctx) : (ctx) => messages(ctx));
  }
  mcp.server.setRequestHandler('completion/complete', () => ({ completion: { values: [], total: 0, hasMore: false } }));
  return mcp;
}

// ------------------------------------------------------------------ transports

function serveOverStdio(modernOnly) {
  let server;
  // On a 2026-07-28 connection serveStdio delivers the server's list_changed notifications on
  // the client's subscriptions/listen streams.
  const notify = { toolsChanged: () => server?.sendToolListChanged(), promptsChanged: () => server?.sendPromptListChanged() };
  serveStdio(() => (server = createServer(notify)), { legacy: modernOnly ? 'reject' : 'serve', onerror: (e) => log('error:', e.message) });
  log(`serving over stdio${modernOnly ? ' (2026-07-28 only)' : ''}`);
}

async function serveHttp(port, modernOnly) {
  const notify = {};
  const handler = createMcpHandler(() => createServer(notify), { legacy: modernOnly ? 'reject' : 'stateless', onerror: (e) => log('error:', e.message) });
  Object.assign(notify, { toolsChanged: () => handler.notify.toolsChanged(), promptsChanged: () => handler.notify.promptsChanged() });
  const serve = toNodeHandler(handler);
  // DNS-rebinding protection: Host and Origin must name loopback (403 otherwise).
  const hostOk = localhostHostValidation();
  const originOk = localhostOriginValidation();
  const httpServer = http.createServer((req, res) => {
    if (new URL(req.url, 'http://localhost').pathname !== '/mcp') return res.writeHead(404).end();
    if (!hostOk(req, res) || !originOk(req, res)) return;
    serve(req, res);
  });
  await new Promise((r) => httpServer.listen(port, '127.0.0.1', r));
  process.stdout.write(`modern-everything: listening on http://127.0.0.1:${httpServer.address().port}/mcp\n`);
  const stop = () => {
    handler.close().catch(() => {});
    httpServer.closeAllConnections?.();
    httpServer.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const argv = process.argv.slice(2);
const modernOnly = argv.includes('--modern-only');
if (argv.includes('--http')) {
  const i = argv.indexOf('--port');
  await serveHttp(i >= 0 ? Number(argv[i + 1]) : 3000, modernOnly);
} else if (argv.includes('--stdio')) {
  serveOverStdio(modernOnly);
} else {
  process.stderr.write('usage: modern-everything.mjs --stdio | --http [--port N]  [--modern-only]\n');
  process.exit(2);
}
