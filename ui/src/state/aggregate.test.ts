import { describe, expect, it } from 'vitest';
import { aggregate } from './aggregate';
import { server, snapshot } from './fixtures.test-util';
import { describeServer, endpoints } from './server';

describe('aggregate state', () => {
  it('is the engine’s overview, as it says it', () => {
    const snap = { ...snapshot([server({ name: 'a' }), server({ name: 'b', state: 'backoff' })]), overview: { health: 'busy' as const, summary: '1 ready · 1 restarting' } };
    expect(aggregate(snap)).toEqual({ text: '1 ready · 1 restarting', tone: 'busy' });
  });
});

describe('server card', () => {
  it('running shows uptime and can be stopped or restarted', () => {
    const v = describeServer(server({ name: 'a', since_ms: 0 }), 125_500);
    expect(v).toMatchObject({ words: 'Running', tone: 'ok', detail: 'up 2 min 5 s', canStart: false, canStop: true, canRestart: true, panel: null });
  });
  it('backoff counts down', () => {
    const s = server({ name: 'a', state: 'backoff', attempt: 3, next_at_ms: 20_000, delay_ms: 8_000 });
    expect(describeServer(s, 12_000).detail).toBe('attempt 3 — next try in 8 s');
    expect(describeServer(s, 13_000).detail).toBe('attempt 3 — next try in 7 s');
  });
  it('failed gets a crash-loop panel and a retry', () => {
    const v = describeServer(server({ name: 'a', state: 'failed', crashes: 10, window_secs: 300, last_stderr: ['boom'] }), 0);
    expect(v.panel).toEqual({ kind: 'failed', title: 'Crash loop: gave up after 10 crashes in 5 min', lines: ['boom'] });
    expect(v.canStart).toBe(true);
  });
  it('no-command shows the hint', () => {
    const v = describeServer(server({ name: 'a', state: 'no-command', command: ['npx'], hint: 'install Node.js 18+' }), 0);
    expect(v.panel).toMatchObject({ kind: 'no-command', title: '"npx" not found on PATH', hint: 'install Node.js 18+' });
    expect(v.words).toBe('Not installed');
  });
  it('takes its words, colour and buttons from the engine', () => {
    const exited = server({
      name: 'a',
      state: 'stopped',
      health: 'down',
      words: 'Exited',
      summary: 'exited with code 0 by itself, not restarted',
      last_exit: { at_ms: 0, code: 0, signal: null, reason: 'exited with code 0', requested: false, last_stderr: [] },
    });
    const v = describeServer(exited, 0);
    expect(v).toMatchObject({ words: 'Exited', tone: 'down', canStart: true, canStop: false, canRestart: false });
    expect(v.detail).toBe('exited with code 0 by itself, not restarted (restart = "on-failure")');
    const stopping = describeServer(server({ name: 'b', state: 'stopping' }), 0);
    expect(stopping).toMatchObject({ tone: 'busy', canStart: false, canStop: false, canRestart: false });
  });
  it('crashed shows exit and stderr; last exit reads in words', () => {
    const v = describeServer(
      server({ name: 'a', state: 'crashed', code: 3, signal: null, last_stderr: ['x'], last_exit: { at_ms: 0, code: 3, signal: null, reason: 'exited with code 3', requested: false, last_stderr: [] } }),
      12_000,
    );
    expect(v.panel?.title).toBe('Crashed: exited with code 3');
    expect(v.lastExit).toBe('exited with code 3 · 12 s ago');
  });
  it('endpoints derive from the bridge address', () => {
    expect(endpoints('127.0.0.1:7455', 'time')).toEqual({ ws: 'ws://127.0.0.1:7455/mcp/time', http: 'http://127.0.0.1:7455/mcp/time' });
  });
});
