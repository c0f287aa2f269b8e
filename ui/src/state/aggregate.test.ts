import { describe, expect, it } from 'vitest';
import { aggregate } from './aggregate';
import { server } from './fixtures.test-util';
import { describeServer, endpoints } from './server';

describe('aggregate state', () => {
  it('all running reads as ready', () => {
    expect(aggregate([server({ name: 'a' }), server({ name: 'b' }), server({ name: 'c' })])).toEqual({ text: '3 servers ready', tone: 'ok' });
    expect(aggregate([server({ name: 'a' })]).text).toBe('1 server ready');
  });
  it('names what is not ready, worst tone wins', () => {
    expect(aggregate([server({ name: 'a' }), server({ name: 'b', state: 'backoff' })])).toEqual({ text: '1 ready · 1 restarting', tone: 'busy' });
    expect(aggregate([server({ name: 'a', state: 'failed' })])).toEqual({ text: '1 failed', tone: 'bad' });
    expect(aggregate([server({ name: 'a', state: 'backoff' }), server({ name: 'b', state: 'crashed' }), server({ name: 'c', state: 'no-command' })]).text).toBe(
      '1 restarting · 1 failed · 1 not installed',
    );
    expect(aggregate([server({ name: 'a', state: 'stopped' })])).toEqual({ text: '1 stopped', tone: 'idle' });
  });
  it('counts servers that are starting or not answering; not answering needs attention', () => {
    const s = [server({ name: 'a' }), server({ name: 'slow', state: 'starting' }), server({ name: 'mute', state: 'not-answering', reason: 'x' })];
    expect(aggregate(s)).toEqual({ text: '1 ready · 1 starting · 1 not answering', tone: 'bad' });
    expect(aggregate(s.slice(0, 2))).toEqual({ text: '1 ready · 1 starting', tone: 'busy' });
    expect(aggregate([server({ name: 'm1', state: 'not-answering' }), server({ name: 'm2', state: 'not-answering' })]).text).toBe('2 not answering');
  });
  it('no servers', () => {
    expect(aggregate([]).text).toBe('No servers configured');
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
