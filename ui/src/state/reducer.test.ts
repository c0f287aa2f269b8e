import { describe, expect, it } from 'vitest';
import type { LogLine } from '../types';
import { client, server, snapshot } from './fixtures.test-util';
import { INITIAL, reduce } from './reducer';

const line = (seq: number, text = `line ${seq}`): LogLine => ({ seq, time_ms: seq, server: 'a', stream: 'stderr', level: null, text });

describe('event reducer', () => {
  it('takes a snapshot, then applies changes', () => {
    let o = reduce(INITIAL, { type: 'snapshot', status: snapshot([server({ name: 'a' }), server({ name: 'b' })]), log_seq: 3 }, 5_000);
    expect(o.state.snapshot?.servers.map((s) => s.name)).toEqual(['a', 'b']);
    expect(o.state.clockOffsetMs).toBe(5_000); // engine now = 1 000 + 9 000
    o = reduce(o.state, { type: 'server', server: server({ name: 'b', state: 'backoff', attempt: 1, next_at_ms: 9 }) }, 0);
    expect(o.state.snapshot?.servers[1].state).toBe('backoff');
    expect(o.announce).toEqual(['b: restarting']);
    o = reduce(o.state, { type: 'server', server: server({ name: 'c' }) }, 0);
    expect(o.state.snapshot?.servers.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    o = reduce(o.state, { type: 'bridge', bridge: { ...o.state.snapshot!.bridge, address: '127.0.0.1:1' } }, 0);
    expect(o.state.snapshot?.bridge.address).toBe('127.0.0.1:1');
  });
  it('corrects a clock offset read from a snapshot that waited, with fresher engine times', () => {
    // Engine and page share a clock; the snapshot (engine time 10 000) is read 1 200 ms late.
    let o = reduce(INITIAL, { type: 'snapshot', status: snapshot([server({ name: 'a' })]), log_seq: 0 }, 11_200);
    expect(o.state.clockOffsetMs).toBe(-1_200);
    // A server that started at engine time 12 000, seen at 12 010: the offset is at least -10.
    o = reduce(o.state, { type: 'server', server: server({ name: 'a', started_at_ms: 12_000 }) }, 12_010);
    expect(o.state.clockOffsetMs).toBe(-10);
    // Older times (a backlog, an old exit) never lower it; a live line raises it further.
    o = reduce(o.state, { type: 'logs', lines: [line(1)] }, 13_000);
    expect(o.state.clockOffsetMs).toBe(-10);
    o = reduce(o.state, { type: 'log', line: { ...line(2), time_ms: 14_000 } }, 14_002);
    expect(o.state.clockOffsetMs).toBe(-2);
    // A new snapshot (a reconnection, perhaps to another engine) starts over from its own.
    o = reduce(o.state, { type: 'snapshot', status: snapshot([]), log_seq: 2 }, 9_000);
    expect(o.state.clockOffsetMs).toBe(1_000);
  });
  it('announces a server that starts and one that does not answer, not each new stderr line', () => {
    let o = reduce(INITIAL, { type: 'snapshot', status: snapshot([server({ name: 'mute', state: 'stopped' })]), log_seq: 0 }, 0);
    o = reduce(o.state, { type: 'server', server: server({ name: 'mute', state: 'starting', since_ms: 1 }) }, 0);
    expect(o.announce).toEqual(['mute: starting']);
    o = reduce(o.state, { type: 'server', server: server({ name: 'mute', state: 'starting', since_ms: 1, last_line: 'mute: up' }) }, 0);
    expect(o.announce).toEqual([]);
    expect(o.state.snapshot?.servers[0].last_line).toBe('mute: up');
    o = reduce(o.state, { type: 'server', server: server({ name: 'mute', state: 'not-answering', since_ms: 1, reason: 'x' }) }, 0);
    expect(o.announce).toEqual(['mute: not answering']);
  });
  it('ignores changes before the first snapshot', () => {
    const o = reduce(INITIAL, { type: 'server', server: server({ name: 'a' }) }, 0);
    expect(o.state).toBe(INITIAL);
  });
  it('adds, updates and removes clients', () => {
    let o = reduce(INITIAL, { type: 'snapshot', status: snapshot([]), log_seq: 0 }, 0);
    o = reduce(o.state, { type: 'client', client: client({ id: 'c1' }) }, 0);
    expect(o.announce).toEqual(['claude-code connected to time']);
    o = reduce(o.state, { type: 'client', client: client({ id: 'c1', messages_in: 5 }) }, 0);
    expect(o.announce).toEqual([]);
    expect(o.state.snapshot?.clients).toHaveLength(1);
    expect(o.state.snapshot?.clients[0].messages_in).toBe(5);
    o = reduce(o.state, { type: 'client-gone', id: 'c1', server: 'time' }, 0);
    expect(o.state.snapshot?.clients).toEqual([]);
    expect(o.announce).toEqual(['claude-code disconnected from time']);
  });
  it('tracks the last seq and never repeats a line', () => {
    let o = reduce(INITIAL, { type: 'logs', lines: [line(1), line(2), line(3)] }, 0);
    expect(o.log).toHaveLength(3);
    expect(o.state.lastSeq).toBe(3);
    o = reduce(o.state, { type: 'logs', lines: [line(2), line(3), line(4)] }, 0);
    expect(o.log.map((e) => (e.kind === 'line' ? e.line.seq : 0))).toEqual([4]);
    o = reduce(o.state, { type: 'log', line: line(4) }, 0);
    expect(o.log).toEqual([]);
    o = reduce(o.state, { type: 'log', line: line(5) }, 0);
    expect(o.state.lastSeq).toBe(5);
  });
  it('turns missed counts into an inline marker', () => {
    const o = reduce(INITIAL, { type: 'missed', count: 120 }, 7);
    expect(o.log).toEqual([{ kind: 'marker', time_ms: 7, tone: 'warn', text: '120 lines skipped (the dock fell behind)' }]);
    expect(reduce(INITIAL, { type: 'missed', count: 0 }, 7).log).toEqual([]);
  });
  it('a re-sent snapshot from the same daemon keeps the seq; a new daemon resyncs', () => {
    let o = reduce(INITIAL, { type: 'snapshot', status: snapshot([server({ name: 'a' })]), log_seq: 0 }, 0);
    o = reduce(o.state, { type: 'logs', lines: [line(1), line(2)] }, 0);
    o = reduce(o.state, { type: 'snapshot', status: snapshot([server({ name: 'a', state: 'stopped' })]), log_seq: 2 }, 0);
    expect(o.state.lastSeq).toBe(2);
    expect(o.resync).toBe(false);
    expect(o.announce).toEqual(['a: stopped']);
    o = reduce(o.state, { type: 'snapshot', status: snapshot([server({ name: 'a' })], { pid: 43 }), log_seq: 0 }, 0);
    expect(o.resync).toBe(true);
    expect(o.state.lastSeq).toBe(0);
    expect(o.log[0]).toMatchObject({ kind: 'marker', tone: 'info' });
  });
});
