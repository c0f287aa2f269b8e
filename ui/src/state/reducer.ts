// Folds the event stream into the dock's state. Pure: (state, event, now) → next state plus
// what the view should do with it (log entries to append, words to announce, a resync).

import type { DockEvent, LogLine, ServerStatus, Snapshot } from '../types';
import { type LogEntry, lineEntry, missedEntry } from './logfilter';

export interface DockState {
  snapshot: Snapshot | null;
  /** Which bridgedockd we talk to ("pid@started_at"); a change means a new daemon. */
  instance: string | null;
  /** Highest log seq seen: the `since` of the next connection. */
  lastSeq: number;
  /** Engine clock minus local clock, from the last snapshot (for countdowns and uptimes). */
  clockOffsetMs: number;
}

export const INITIAL: DockState = { snapshot: null, instance: null, lastSeq: 0, clockOffsetMs: 0 };

export interface Outcome {
  state: DockState;
  log: LogEntry[];
  announce: string[];
  /** The stream belongs to a new daemon whose seqs start over: reconnect without `since`. */
  resync: boolean;
}

const instanceOf = (s: Snapshot) => `${s.bridge.pid}@${s.bridge.started_at_ms}`;

function describeChange(prev: ServerStatus | undefined, next: ServerStatus): string | null {
  if (prev && prev.state === next.state && prev.words === next.words) return null;
  return `${next.name}: ${next.words.toLowerCase()}`;
}

function upsert<T>(list: readonly T[], item: T, same: (a: T) => boolean): T[] {
  const i = list.findIndex(same);
  if (i === -1) return [...list, item];
  const out = list.slice();
  out[i] = item;
  return out;
}

function takeLines(state: DockState, lines: readonly LogLine[]): { lastSeq: number; log: LogEntry[] } {
  let lastSeq = state.lastSeq;
  const log: LogEntry[] = [];
  for (const line of lines) {
    if (line.seq <= lastSeq) continue; // already shown (a resumed stream overlapping)
    lastSeq = line.seq;
    log.push(lineEntry(line));
  }
  return { lastSeq, log };
}

/**
 * The clock offset, raised by an engine timestamp `engineMs` that arrived at local time `nowMs`.
 * The engine took it before it arrived, so engine − local ≥ engineMs − nowMs: the largest such
 * bound is the best estimate. A snapshot's bound is low by however long it waited to be read (a
 * page still loading, as the desktop app's is, can take a second: every countdown then ran a
 * second long), so the fresh timestamps of later events — a server starting or exiting, a live
 * log line — raise it.
 */
function raiseOffset(state: DockState, engineMs: number | null | undefined, nowMs: number): DockState {
  if (engineMs === null || engineMs === undefined || !state.snapshot) return state;
  const bound = engineMs - nowMs;
  return bound > state.clockOffsetMs ? { ...state, clockOffsetMs: bound } : state;
}

export function reduce(state: DockState, ev: DockEvent, nowMs: number): Outcome {
  const none = { log: [] as LogEntry[], announce: [] as string[], resync: false };
  switch (ev.type) {
    case 'snapshot': {
      const snap = ev.status;
      const instance = instanceOf(snap);
      const clockOffsetMs = snap.bridge.started_at_ms + snap.bridge.uptime_ms - nowMs;
      const isNewDaemon = state.instance !== null && state.instance !== instance;
      const announce: string[] = [];
      if (state.snapshot && !isNewDaemon) {
        for (const s of snap.servers) {
          const d = describeChange(state.snapshot.servers.find((p) => p.name === s.name), s);
          if (d) announce.push(d);
        }
      }
      if (isNewDaemon) {
        return {
          state: { snapshot: snap, instance, lastSeq: 0, clockOffsetMs },
          log: [{ kind: 'marker', time_ms: nowMs, tone: 'info', text: `bridgedock restarted (pid ${snap.bridge.pid}) — its log starts over` }],
          announce: ['bridgedock restarted'],
          resync: state.lastSeq > 0,
        };
      }
      return { ...none, state: { ...state, snapshot: snap, instance, clockOffsetMs }, announce };
    }
    case 'server': {
      if (!state.snapshot) return { ...none, state };
      const prev = state.snapshot.servers.find((s) => s.name === ev.server.name);
      const servers = upsert(state.snapshot.servers, ev.server, (s) => s.name === ev.server.name);
      const d = describeChange(prev, ev.server);
      let next: DockState = { ...state, snapshot: { ...state.snapshot, servers, overview: ev.overview ?? state.snapshot.overview } };
      next = raiseOffset(next, ev.server.started_at_ms, nowMs);
      next = raiseOffset(next, ev.server.last_exit?.at_ms, nowMs);
      return { ...none, state: next, announce: d ? [d] : [] };
    }
    case 'bridge':
      if (!state.snapshot) return { ...none, state };
      return { ...none, state: { ...state, snapshot: { ...state.snapshot, bridge: ev.bridge } } };
    case 'client': {
      if (!state.snapshot) return { ...none, state };
      const isNew = !state.snapshot.clients.some((c) => c.id === ev.client.id);
      const clients = upsert(state.snapshot.clients, ev.client, (c) => c.id === ev.client.id);
      return {
        ...none,
        state: { ...state, snapshot: { ...state.snapshot, clients } },
        announce: isNew ? [`${ev.client.client_name ?? 'a client'} connected to ${ev.client.server}`] : [],
      };
    }
    case 'client-gone': {
      if (!state.snapshot) return { ...none, state };
      const gone = state.snapshot.clients.find((c) => c.id === ev.id);
      const clients = state.snapshot.clients.filter((c) => c.id !== ev.id);
      return {
        ...none,
        state: { ...state, snapshot: { ...state.snapshot, clients } },
        announce: gone ? [`${gone.client_name ?? 'a client'} disconnected from ${ev.server}`] : [],
      };
    }
    case 'logs':
    case 'log': {
      const lines = ev.type === 'logs' ? ev.lines : [ev.line];
      const { lastSeq, log } = takeLines(state, lines);
      const next = raiseOffset(state, lines.at(-1)?.time_ms, nowMs);
      return { ...none, state: lastSeq === next.lastSeq ? next : { ...next, lastSeq }, log };
    }
    case 'missed':
      return { ...none, state, log: ev.count > 0 ? [missedEntry(ev.count, nowMs)] : [] };
    default:
      return { ...none, state };
  }
}
