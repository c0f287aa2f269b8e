import { describe, expect, it } from 'vitest';
import { server } from './fixtures.test-util';
import { capabilityWords, describeServer, protocolFacts } from './server';

const DECLARED = { roots: { listChanged: true }, sampling: {}, elicitation: { form: {}, url: {} } };

describe('a server that is starting (spawned, not answering yet)', () => {
  const slow = server({ name: 'slow', state: 'starting', since_ms: 10_000, pid: 4242, last_line: 'npm http fetch GET 200 https://registry.npmjs.org/x 55%' });

  it('says how long it has been starting, counting', () => {
    expect(describeServer(slow, 44_200).detail).toBe('Starting — 34 s');
    expect(describeServer(slow, 45_000).detail).toBe('Starting — 35 s');
    expect(describeServer(slow, 10_000 + 125_000).detail).toBe('Starting — 2 min 5 s');
  });

  it('shows its newest stderr line, so a long npx download visibly moves', () => {
    const v = describeServer(slow, 20_000);
    expect(v).toMatchObject({ words: 'Starting', tone: 'busy', lastLine: 'npm http fetch GET 200 https://registry.npmjs.org/x 55%', panel: null });
    expect(describeServer({ ...slow, last_line: undefined }, 20_000).lastLine).toBeNull();
    expect(describeServer({ ...slow, last_line: '   ' }, 20_000).lastLine).toBeNull();
  });

  it('can be stopped or restarted, not started again', () => {
    expect(describeServer(slow, 20_000)).toMatchObject({ canStart: false, canStop: true, canRestart: true });
  });

  it('has no protocol yet: it has not answered', () => {
    expect(describeServer(slow, 20_000).protocol).toEqual({ revision: null, missing: 'not yet', declared: null, perClient: null });
  });
});

describe('a server that is not answering (alive, not crashed)', () => {
  const reason =
    "its process (pid 4242) has not answered bridgedock's MCP handshake within 2 s (start_timeout); it may be stuck, still downloading, or not an MCP server — see its log";
  const mute = server({ name: 'mute', state: 'not-answering', since_ms: 0, pid: 4242, reason, last_line: 'mute: up pid 4242, answering nothing' });

  it('reads "Not answering" in the red family', () => {
    expect(describeServer(mute, 3_000)).toMatchObject({ words: 'Not answering', tone: 'down', detail: 'Alive for 3 s, not answering' });
  });

  it('gets a panel with the reason as a sentence and its last line', () => {
    const p = describeServer(mute, 3_000).panel;
    expect(p).toMatchObject({ kind: 'not-answering', title: 'Clients cannot use it until it answers', lastLine: 'mute: up pid 4242, answering nothing' });
    expect(p?.text).toBe(`I${reason.slice(1)}.`);
  });

  it('a refused handshake reads as well', () => {
    const p = describeServer({ ...mute, reason: 'its process runs, but it refused the handshake: unsupported protocol version', last_line: undefined }, 3_000).panel;
    expect(p?.text).toBe('Its process runs, but it refused the handshake: unsupported protocol version.');
    expect(p?.lastLine).toBeUndefined();
  });

  it('can be restarted or stopped; Start would do nothing', () => {
    expect(describeServer(mute, 3_000)).toMatchObject({ canStart: false, canStop: true, canRestart: true });
  });
});

describe('the protocol bridgedock speaks with a server', () => {
  it('a handshake-era server: its revision and what bridgedock declared for all clients', () => {
    const s = server({ name: 'time', protocol_revision: '2025-11-25', declared_capabilities: DECLARED, server_capabilities: { tools: {} } });
    expect(protocolFacts(s)).toEqual({ revision: '2025-11-25', missing: null, declared: ['roots', 'sampling', 'elicitation (form, URL)'], perClient: null });
  });

  it('a 2026-07-28 server: nothing declared up front, each client brings its own', () => {
    const s = server({ name: 'modern', protocol_revision: '2026-07-28', declared_capabilities: null });
    expect(protocolFacts(s)).toEqual({ revision: '2026-07-28', missing: null, declared: null, perClient: 'none up front: each client’s own, with each request' });
  });

  it('a server that is not running speaks nothing, whatever its last process spoke', () => {
    const s = server({ name: 'x', state: 'crashed', protocol_revision: '2025-11-25', declared_capabilities: DECLARED });
    expect(protocolFacts(s)).toEqual({ revision: null, missing: 'not running', declared: null, perClient: null });
    expect(protocolFacts(server({ name: 'y', protocol_revision: null })).missing).toBe('not yet');
  });

  it('capabilities in words: modes in brackets, notification flags left out', () => {
    expect(capabilityWords(DECLARED)).toBe('roots, sampling, elicitation (form, URL)');
    expect(capabilityWords({ sampling: { tools: {}, context: {} }, elicitation: {} })).toBe('sampling (tools, context), elicitation');
    expect(capabilityWords({ resources: { subscribe: true, listChanged: true }, tools: { listChanged: true } })).toBe('tools, resources');
    expect(capabilityWords({})).toBe('nothing');
    // as the engine sends them (keys sorted), read in people's order
    expect(capabilityWords({ elicitation: { form: {}, url: {} }, roots: { listChanged: true }, sampling: {} })).toBe('roots, sampling, elicitation (form, URL)');
    expect(capabilityWords({ experimental: {}, sampling: {} })).toBe('sampling, experimental');
  });
});
