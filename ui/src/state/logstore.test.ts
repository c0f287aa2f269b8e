import { describe, expect, it } from 'vitest';
import type { LogLine } from '../types';
import { NO_FILTER, lineEntry, missedEntry } from './logfilter';
import { LogStore } from './logstore';

const entry = (seq: number, server = 'a') => lineEntry({ seq, time_ms: seq, server, stream: 'stderr', level: null, text: `line ${seq}` } as LogLine);

describe('log store', () => {
  it('keeps filtered rows in step with the ring', () => {
    const s = new LogStore(10);
    s.setFilter({ ...NO_FILTER, server: 'b' });
    let r = s.append([entry(1, 'a'), entry(2, 'b'), entry(3, 'a'), entry(4, 'b')]);
    expect(r).toEqual({ added: 2, dropped: 0 });
    expect(s.count).toBe(2);
    r = s.append(Array.from({ length: 9 }, (_, i) => entry(5 + i, 'a')));
    // ring keeps seqs 4..13: seq 2 ('b') was evicted, seq 4 remains
    expect(r).toEqual({ added: 0, dropped: 1 });
    expect(s.count).toBe(1);
    s.setFilter(NO_FILTER);
    expect(s.count).toBe(10);
    const first = s.row(0);
    expect(first?.kind === 'line' && first.line.seq).toBe(4);
    s.append([missedEntry(3, 0)]);
    expect(s.row(9)?.kind).toBe('marker');
    s.clear();
    expect(s.count).toBe(0);
    expect(s.total).toBe(0);
  });
  it('handles 100 000 lines and a filter change quickly', () => {
    const s = new LogStore(100_000);
    const batch = Array.from({ length: 150_000 }, (_, i) => entry(i + 1, i % 3 === 0 ? 'x' : 'y'));
    s.append(batch);
    expect(s.total).toBe(100_000);
    const t0 = performance.now();
    s.setFilter({ ...NO_FILTER, text: 'LINE 1499' });
    const ms = performance.now() - t0;
    expect(s.count).toBe(100); // 149 900..149 999 (1499 and 14 99x were evicted)
    expect(ms).toBeLessThan(500);
  });
});
