// What a server card shows, derived from its status and the time. Pure.

import type { ServerStatus } from '../types';
import { STATE_LOOK, type Tone } from './aggregate';
import { ago, backoffText, describeExit, failedText, formatUptime } from './time';

export interface Panel {
  kind: 'failed' | 'crashed' | 'no-command';
  title: string;
  hint?: string;
  lines: string[];
}

export interface ServerView {
  words: string;
  tone: Tone;
  /** One line under the name: "up 2 min", "attempt 3 — next try in 8 s", … */
  detail: string;
  uptime: string; // "—" when not running
  panel: Panel | null;
  lastExit: string | null;
  canStart: boolean;
  canStop: boolean;
  canRestart: boolean;
}

export function describeServer(s: ServerStatus, nowMs: number): ServerView {
  const look = STATE_LOOK[s.state] ?? { words: s.state, tone: 'idle' as Tone };
  const upSince = s.state === 'running' ? (s.since_ms ?? s.started_at_ms) : null;
  const uptime = upSince !== null && upSince !== undefined ? formatUptime(nowMs - upSince) : '—';
  let detail = '';
  let panel: Panel | null = null;
  switch (s.state) {
    case 'running':
      detail = `up ${uptime}`;
      break;
    case 'starting':
      detail = 'starting…';
      break;
    case 'stopping':
      detail = 'stopping…';
      break;
    case 'stopped':
      detail = s.autostart ? 'stopped' : 'stopped (autostart off)';
      break;
    case 'backoff':
      detail = backoffText(s.attempt ?? 1, s.next_at_ms ?? nowMs, nowMs);
      break;
    case 'crashed':
      detail = `${describeExit(s.code, s.signal)} — not restarted (restart = "${s.restart_policy}")`;
      panel = { kind: 'crashed', title: `Crashed: ${describeExit(s.code, s.signal)}`, lines: s.last_stderr ?? [] };
      break;
    case 'failed': {
      const t = failedText(s.crashes ?? 0, s.window_secs ?? 0);
      detail = t;
      panel = { kind: 'failed', title: `Crash loop: ${t}`, lines: s.last_stderr ?? [] };
      break;
    }
    case 'no-command':
      detail = 'cannot start: its program is not installed';
      panel = {
        kind: 'no-command',
        title: `"${s.program ?? s.command?.[0] ?? ''}" not found on PATH`,
        hint: s.hint,
        lines: [],
      };
      break;
  }
  const e = s.last_exit;
  const lastExit = e ? `${e.requested ? 'stopped by request' : e.reason || describeExit(e.code, e.signal)} · ${ago(e.at_ms, nowMs)}` : null;
  const st = s.state;
  return {
    words: look.words,
    tone: look.tone,
    detail,
    uptime,
    panel,
    lastExit,
    canStart: st === 'stopped' || st === 'crashed' || st === 'failed' || st === 'no-command',
    canStop: st === 'running' || st === 'starting' || st === 'backoff',
    canRestart: st === 'running' || st === 'backoff' || st === 'crashed' || st === 'failed' || st === 'starting',
  };
}

/** The bridge endpoints for a server (served by the bridge at `address`, e.g. 127.0.0.1:7455). */
export function endpoints(address: string, name: string): { ws: string; http: string } {
  const n = encodeURIComponent(name);
  return { ws: `ws://${address}/mcp/${n}`, http: `http://${address}/mcp/${n}` };
}
