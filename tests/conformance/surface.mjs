// TEST FIXTURE DATA. The surface that @modelcontextprotocol/conformance's server scenarios
// expect from an "everything server" (the suite's SERVER_REQUIREMENTS and the scenario checks
// in 0.1.16 and 0.2.0-alpha.12's dist/index.js), shared by legacy-everything.mjs (SDK 1.32.2,
// a 2025-11-25 server) and modern-everything.mjs (@modelcontextprotocol/server 2.4.0, a
// 2026-07-28 server), so both expose exactly the same tools, resources and prompts.
// Pure data and pure functions only: no SDK import here.

export const SERVER_INFO = { name: 'mcp-conformance-test-server', version: '1.0.0' };

export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
export const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
export const LOGGER = 'conformance-test-server';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const text = (t) => ({ content: [{ type: 'text', text: t }] });

const noArgs = { type: 'object', properties: {} };
const obj = (properties, required = Object.keys(properties)) => ({ type: 'object', properties, required });

// ---------------------------------------------------------------- tools

/** Every tool: name -> { description, inputSchema }. Handlers live in each server. */
export const TOOLS = {
  test_simple_text: { description: 'Returns simple text content' },
  test_image_content: { description: 'Returns image content (base64 PNG)' },
  test_audio_content: { description: 'Returns audio content (base64 WAV)' },
  test_embedded_resource: { description: 'Returns an embedded resource' },
  test_multiple_content_types: { description: 'Returns text, image and resource content' },
  test_tool_with_logging: { description: 'Sends 3 log notifications while it runs' },
  test_tool_with_progress: { description: 'Reports progress 0, 50, 100 of 100' },
  test_error_handling: { description: 'Always fails (isError result)' },
  test_reconnection: { description: 'Closes its SSE stream mid-call (SEP-1699), answers after the client reconnects' },
  test_sampling: {
    description: 'Asks the client for an LLM completion (sampling/createMessage)',
    inputSchema: obj({ prompt: { type: 'string', description: 'The prompt to send to the LLM' } }),
  },
  test_elicitation: {
    description: 'Asks the client for user input (elicitation/create)',
    inputSchema: obj({ message: { type: 'string', description: 'The message to show the user' } }),
  },
  test_elicitation_sep1034_defaults: { description: 'Elicitation with defaults for every primitive type (SEP-1034)' },
  test_elicitation_sep1330_enums: { description: 'Elicitation with the five enum schema forms (SEP-1330)' },
  json_schema_2020_12_tool: {
    description: 'Tool with JSON Schema 2020-12 features (SEP-1613, SEP-2106)',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
      },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] },
      additionalProperties: false,
    },
  },
  // SEP-2243 (http-custom-header-server-validation): a string parameter mirrored in a header.
  test_header_param: {
    description: 'Echoes its region argument, which clients also send as the Mcp-Param-Region header (SEP-2243)',
    inputSchema: obj({ region: { type: 'string', description: 'A region name', 'x-mcp-header': 'Region' } }),
  },
  // 2026-07-28 (SEP-2322, multi round-trip): the tools the input-required-result-* scenarios call.
  test_input_required_result_elicitation: { description: 'Needs the user name (elicitation), then greets' },
  test_input_required_result_sampling: { description: 'Needs an LLM answer (sampling)' },
  test_input_required_result_list_roots: { description: "Needs the client's roots (roots/list)" },
  test_input_required_result_request_state: { description: 'Needs a confirmation; carries requestState across the round trip' },
  test_input_required_result_multiple_inputs: { description: 'Needs an elicitation, a sampling and a roots/list answer at once' },
  test_input_required_result_multi_round: { description: 'Needs two elicitations, one after the other' },
  test_input_required_result_tampered_state: { description: 'Needs a confirmation; its state is integrity-protected' },
  test_input_required_result_capabilities: { description: 'Asks only for what the client declared (sampling and/or elicitation)' },
  // 2026-07-28 (SEP-2575, server-stateless): diagnostic tools.
  test_missing_capability: { description: 'Needs sampling: fails with -32021 when the client did not declare it' },
  test_streaming_elicitation: { description: 'Needs user input (elicitation) before it can answer' },
  test_logging_tool: { description: 'Logs 3 messages while it runs (none reach a client that set no log level)' },
  test_trigger_tool_change: { description: 'Announces that the tool list changed' },
  test_trigger_prompt_change: { description: 'Announces that the prompt list changed' },
};
for (const t of Object.values(TOOLS)) t.inputSchema ??= noArgs;

export const SIMPLE_TEXT = 'This is a simple text response for testing.';
export const IMAGE_RESULT = { content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] };
export const AUDIO_RESULT = { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
export const EMBEDDED_RESULT = {
  content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
};
export const MIXED_RESULT = {
  content: [
    { type: 'text', text: 'Multiple content types test:' },
    { type: 'image', data: PNG, mimeType: 'image/png' },
    { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
  ],
};
export const ERROR_RESULT = { isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] };
export const LOG_MESSAGES = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
export const RECONNECTION_TEXT =
  'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.';

// ---------------------------------------------------------------- what the tools ask the client

/** elicitation/create params (form mode) for the legacy elicitation scenarios. */
export const ELICIT = {
  test_elicitation: (message) => ({
    message,
    requestedSchema: obj({ response: { type: 'string', description: "User's response" } }),
  }),
  test_elicitation_sep1034_defaults: () => ({
    message: 'Please review and update the form fields with defaults',
    requestedSchema: obj(
      {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true },
      },
      [],
    ),
  }),
  test_elicitation_sep1330_enums: () => ({
    message: 'Please select options from the enum fields',
    requestedSchema: obj(
      {
        untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
        titledSingle: {
          type: 'string',
          description: 'Select one option with titles',
          oneOf: [
            { const: 'value1', title: 'First Option' },
            { const: 'value2', title: 'Second Option' },
            { const: 'value3', title: 'Third Option' },
          ],
        },
        legacyEnum: {
          type: 'string',
          description: 'Select one option (legacy)',
          enum: ['opt1', 'opt2', 'opt3'],
          enumNames: ['Option One', 'Option Two', 'Option Three'],
        },
        untitledMulti: {
          type: 'array',
          description: 'Select multiple options',
          minItems: 1,
          maxItems: 3,
          items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
        },
        titledMulti: {
          type: 'array',
          description: 'Select multiple options with titles',
          minItems: 1,
          maxItems: 3,
          items: {
            anyOf: [
              { const: 'value1', title: 'First Choice' },
              { const: 'value2', title: 'Second Choice' },
              { const: 'value3', title: 'Third Choice' },
            ],
          },
        },
      },
      [],
    ),
  }),
};

/**
 * The input the 2026-07-28 input-required tools need, by the key the scenarios expect:
 * `{ key: { method, params } }`. The modern server returns these as `inputRequests`; the
 * legacy server sends the same requests to the client itself (server->client requests).
 */
const ask = {
  name: (message) => ({ method: 'elicitation/create', params: { message, requestedSchema: obj({ name: { type: 'string' } }) } }),
  sample: (text, maxTokens) => ({
    method: 'sampling/createMessage',
    params: { messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens },
  }),
  roots: () => ({ method: 'roots/list', params: {} }),
};
export const INPUTS = {
  test_input_required_result_elicitation: { user_name: ask.name('What is your name?') },
  test_input_required_result_sampling: { capital_question: ask.sample('What is the capital of France?', 100) },
  test_input_required_result_list_roots: { client_roots: ask.roots() },
  test_input_required_result_request_state: {
    confirm: { method: 'elicitation/create', params: { message: 'Please confirm', requestedSchema: obj({ ok: { type: 'boolean' } }) } },
  },
  test_input_required_result_multiple_inputs: {
    user_name: ask.name('What is your name?'),
    greeting: ask.sample('Generate a greeting', 50),
    client_roots: ask.roots(),
  },
  multi_round_step1: { step1: ask.name('Step 1: What is your name?') },
  multi_round_step2: {
    step2: { method: 'elicitation/create', params: { message: 'Step 2: What is your favorite color?', requestedSchema: obj({ color: { type: 'string' } }) } },
  },
  test_input_required_result_tampered_state: {
    confirm: { method: 'elicitation/create', params: { message: 'Please confirm', requestedSchema: obj({ ok: { type: 'boolean' } }) } },
  },
  capabilities_sampling: { capital_question: ask.sample('What is the capital of France?', 100) },
  capabilities_elicitation: { user_name: ask.name('What is your name?') },
  test_missing_capability: { completion: ask.sample('Say hello', 20) },
  test_streaming_elicitation: { user_name: ask.name('What is your name?') },
  prompt: {
    user_context: {
      method: 'elicitation/create',
      params: { message: 'What context should the prompt use?', requestedSchema: obj({ context: { type: 'string' } }) },
    },
  },
};

/** A short, readable summary of one answer to an input request (for result texts). */
export function describeAnswer(method, answer) {
  if (method === 'elicitation/create') return `${answer?.action ?? '?'} ${JSON.stringify(answer?.content ?? {})}`;
  if (method === 'sampling/createMessage') return answer?.content?.text ?? JSON.stringify(answer?.content);
  if (method === 'roots/list') return (answer?.roots ?? []).map((r) => r.uri).join(', ') || '(no roots)';
  return JSON.stringify(answer);
}

// ---------------------------------------------------------------- resources

export const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', title: 'Static Text Resource', description: 'A static text resource for testing', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', title: 'Static Binary Resource', description: 'A static binary resource (image) for testing', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', title: 'Watched Resource', description: 'A resource that can be subscribed to', mimeType: 'text/plain' },
];
export const TEMPLATE = {
  uriTemplate: 'test://template/{id}/data',
  name: 'template',
  title: 'Resource Template',
  description: 'A resource template with parameter substitution',
  mimeType: 'application/json',
};

/** The contents of a resource, or undefined when no such resource exists. */
export function readResource(uri) {
  if (uri === 'test://static-text') return [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }];
  if (uri === 'test://static-binary') return [{ uri, mimeType: 'image/png', blob: PNG }];
  if (uri === 'test://watched-resource') return [{ uri, mimeType: 'text/plain', text: 'Watched resource content' }];
  const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
  if (m) return [{ uri, mimeType: 'application/json', text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) }];
  return undefined;
}

// ---------------------------------------------------------------- prompts

export const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that includes an embedded resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt that includes image content' },
  { name: 'test_input_required_result_prompt', description: 'A prompt that needs user input (elicitation) first' },
];

const user = (content) => ({ role: 'user', content });
/** The messages of a prompt (not test_input_required_result_prompt), or undefined. */
export function promptMessages(name, a = {}) {
  switch (name) {
    case 'test_simple_prompt':
      return [user({ type: 'text', text: 'This is a simple prompt for testing.' })];
    case 'test_prompt_with_arguments':
      return [user({ type: 'text', text: `Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'` })];
    case 'test_prompt_with_embedded_resource':
      return [
        user({ type: 'resource', resource: { uri: a.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }),
        user({ type: 'text', text: 'Please process the embedded resource above.' }),
      ];
    case 'test_prompt_with_image':
      return [user({ type: 'image', data: PNG, mimeType: 'image/png' }), user({ type: 'text', text: 'Please analyze the image above.' })];
    default:
      return undefined;
  }
}
export const contextPrompt = (context) => [user({ type: 'text', text: `Answer with this context in mind: ${context}` })];
