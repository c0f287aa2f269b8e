// Capability order through bridgedock, with @modelcontextprotocol/client 2.4.0: a client
// without sampling and one with it, either first, each era. bridgedock initializes every server
// itself, declaring sampling, so which client comes first no longer decides what the server
// shows (server-everything registers trigger-sampling-request only for a client that declared
// sampling). A server's request goes only to a client that declared what it needs, and only
// for its own call: an idle capable client is never asked for another client's call.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { textOf, token } from './daemon.mjs';
import {
  SAMPLING_TOOL,
  connect,
  disconnect,
  mcpUrl,
  quitWithoutEndingSession,
  requestsIn,
  restartServer,
  settle,
  useDaemon,
} from './client2.mjs';

useDaemon('bridgedock-capability-order-');

/**
 * One order on a fresh server-everything. `capableMode` is the era of the client with sampling;
 * the clients without it are one of each era.
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
    {},
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

test('a client that quit without ending its session is never asked for another client\'s call', async () => {
  const gone = await connect('everything', 'c2-quit-without-delete', { capabilities: { sampling: {} } });
  await quitWithoutEndingSession(gone);
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
