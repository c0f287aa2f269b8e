import { describe, expect, it } from 'vitest';
import type { LogLine } from '../types';
import { NO_FILTER, compileFilter, entryToText, findMatches, lineEntry, missedEntry, renderSegments } from './logfilter';

let seq = 0;
const line = (p: Partial<LogLine>): LogLine => ({ seq: ++seq, time_ms: 0, server: 'time', stream: 'stderr', level: null, text: '', ...p });

describe('log filter', () => {
  const entries = [
    lineEntry(line({ server: 'time', stream: 'stderr', level: 'error', text: 'Traceback: Boom' })),
    lineEntry(line({ server: 'time', stream: 'stdout', level: 'info', text: 'ready' })),
    lineEntry(line({ server: 'bridge', stream: 'bridge', level: 'warn', text: 'time restarting' })),
    lineEntry(line({ server: 'git', stream: 'stderr', level: null, text: '\x1b[31mBOOM\x1b[0m red' })),
    missedEntry(5, 0),
  ];
  const pass = (f: Partial<typeof NO_FILTER>) => entries.filter(compileFilter({ ...NO_FILTER, ...f })).length;

  it('no filter lets everything through', () => expect(pass({})).toBe(5));
  it('filters by server, stream and minimum level', () => {
    expect(pass({ server: 'time' })).toBe(3); // 2 lines + marker
    expect(pass({ stream: 'bridge' })).toBe(2);
    expect(pass({ level: 'warn' })).toBe(3); // error, warn, marker; unknown level excluded
    expect(pass({ level: 'error' })).toBe(2);
    expect(pass({ level: 'debug' })).toBe(4);
  });
  it('matches text case-insensitively, ignoring ANSI codes', () => {
    expect(pass({ text: 'boom' })).toBe(3);
    expect(pass({ text: '31m' })).toBe(1); // only the marker: escape codes are not text
    expect(pass({ text: 'boom', server: 'git' })).toBe(2);
  });
  it('missed markers read as the dock falling behind', () => {
    expect(missedEntry(1, 0)).toMatchObject({ kind: 'marker', text: '1 line skipped (the dock fell behind)' });
    expect(missedEntry(42, 0)).toMatchObject({ text: '42 lines skipped (the dock fell behind)' });
  });
});

describe('highlighting', () => {
  it('finds every case-insensitive match', () => {
    expect(findMatches('Boom boom BOOM', 'boom')).toEqual([[0, 4], [5, 9], [10, 14]]);
    expect(findMatches('abc', '')).toEqual([]);
  });
  it('marks matches inside plain text', () => {
    expect(renderSegments('say Hello there', 'hello', true).map((s) => [s.text, s.mark])).toEqual([
      ['say ', false],
      ['Hello', true],
      [' there', false],
    ]);
  });
  it('splits matches across ANSI segments and keeps styles', () => {
    const segs = renderSegments('\x1b[31mred\x1b[0mdish', 'redd', true);
    expect(segs.map((s) => [s.text, s.mark, s.style.fg])).toEqual([
      ['red', true, 1],
      ['d', true, null],
      ['ish', false, null],
    ]);
  });
  it('strips styles when ANSI rendering is off', () => {
    const segs = renderSegments('\x1b[1mbold\x1b[0m', '', false);
    expect(segs).toEqual([{ text: 'bold', style: { fg: null, bg: null, bold: false }, mark: false }]);
  });
  it('formats lines for copy and download', () => {
    const e = lineEntry(line({ server: 'time', stream: 'stderr', level: 'warn', text: '\x1b[33mslow\x1b[0m' }));
    expect(entryToText(e, () => 'T')).toBe('T time stderr WARN slow');
    expect(entryToText(missedEntry(2, 0), () => 'T')).toBe('T -- 2 lines skipped (the dock fell behind) --');
  });
});
