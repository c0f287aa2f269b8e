// Which log entries the view shows, and where a text search matches inside a line.

import type { Level, LogLine, Stream } from '../types';
import { type Segment, parseAnsi, stripAnsi } from './ansi';

/** One entry of the dock's log ring: a line, or an inline marker (skipped lines, reconnects). */
export type LogEntry =
  | { kind: 'line'; line: LogLine; plain: string }
  | { kind: 'marker'; time_ms: number; text: string; tone: 'warn' | 'info' };

export function lineEntry(line: LogLine): LogEntry {
  return { kind: 'line', line, plain: stripAnsi(line.text) };
}

export function missedEntry(count: number, nowMs: number): LogEntry {
  return {
    kind: 'marker',
    time_ms: nowMs,
    tone: 'warn',
    text: `${count} line${count === 1 ? '' : 's'} skipped (the dock fell behind)`,
  };
}

export type MinLevel = 'any' | 'error' | 'warn' | 'info' | 'debug';

export interface LogFilter {
  server: string; // '' = every source
  stream: Stream | ''; // '' = every stream
  level: MinLevel;
  text: string; // case-insensitive substring; '' = no text filter
}

export const NO_FILTER: LogFilter = { server: '', stream: '', level: 'any', text: '' };

const SEVERITY: Record<Level, number> = { error: 4, warn: 3, info: 2, debug: 1, trace: 0 };

export function isFiltering(f: LogFilter): boolean {
  return f.server !== '' || f.stream !== '' || f.level !== 'any' || f.text !== '';
}

/** A matcher for `filter`, prepared once (lower-cased query) and applied to many entries. */
export function compileFilter(filter: LogFilter): (e: LogEntry) => boolean {
  const q = filter.text.toLowerCase();
  const min = filter.level === 'any' ? -1 : SEVERITY[filter.level];
  return (e) => {
    // Markers say something about the stream as a whole; they always show.
    if (e.kind === 'marker') return true;
    const l = e.line;
    if (filter.server && l.server !== filter.server) return false;
    if (filter.stream && l.stream !== filter.stream) return false;
    if (min >= 0 && (l.level === null || SEVERITY[l.level] < min)) return false;
    if (q && e.plain.toLowerCase().indexOf(q) === -1) return false;
    return true;
  };
}

export interface MarkedSegment extends Segment {
  mark: boolean;
}

/** Half-open [start, end) ranges where `query` occurs in `text`, case-insensitively. */
export function findMatches(text: string, query: string): [number, number][] {
  if (!query) return [];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  const out: [number, number][] = [];
  let i = hay.indexOf(needle);
  while (i !== -1) {
    out.push([i, i + needle.length]);
    i = hay.indexOf(needle, i + needle.length);
  }
  return out;
}

/**
 * The segments of a line ready to render: ANSI styles (or none, when `ansi` is false) split
 * where the query matches, matching parts marked.
 */
export function renderSegments(text: string, query: string, ansi: boolean): MarkedSegment[] {
  const segs: Segment[] = ansi ? parseAnsi(text) : [{ text: stripAnsi(text), style: { fg: null, bg: null, bold: false } }];
  const plain = segs.map((s) => s.text).join('');
  const matches = findMatches(plain, query);
  if (matches.length === 0) return segs.filter((s) => s.text).map((s) => ({ ...s, mark: false }));
  const out: MarkedSegment[] = [];
  let offset = 0;
  let mi = 0;
  for (const seg of segs) {
    const segEnd = offset + seg.text.length;
    let pos = offset;
    while (pos < segEnd) {
      while (mi < matches.length && matches[mi][1] <= pos) mi++;
      const m = matches[mi];
      if (!m || m[0] >= segEnd) {
        out.push({ text: seg.text.slice(pos - offset), style: seg.style, mark: false });
        pos = segEnd;
      } else if (m[0] > pos) {
        out.push({ text: seg.text.slice(pos - offset, m[0] - offset), style: seg.style, mark: false });
        pos = m[0];
      } else {
        const end = Math.min(m[1], segEnd);
        out.push({ text: seg.text.slice(pos - offset, end - offset), style: seg.style, mark: true });
        pos = end;
      }
    }
    offset = segEnd;
  }
  return out.filter((s) => s.text);
}

/** One line as plain text for copying or a downloaded .log file. */
export function entryToText(e: LogEntry, clock: (ms: number) => string): string {
  if (e.kind === 'marker') return `${clock(e.time_ms)} -- ${e.text} --`;
  const l = e.line;
  return `${clock(l.time_ms)} ${l.server} ${l.stream}${l.level ? ' ' + l.level.toUpperCase() : ''} ${e.plain}`;
}
