// What a server card shows, derived from its status and the time. Pure.

import type { Capabilities, ServerStatus } from '../types';
import type { Tone } from './aggregate';
import { ago, backoffText, describeExit, failedText, formatUptime } from './time';

export interface Panel {
  kind: 'failed' | 'crashed' | 'no-command' | 'not-answering';
  title: string;
  hint?: string;
  /** A sentence that says what happened (not-answering: the engine's reason). */
  text?: string;
  /** The newest stderr line, shown on one line (not-answering). */
  lastLine?: string;
  lines: string[];
}

/** What bridgedock speaks with the server, in people's words. */
export interface ProtocolFacts {
  /** "2025-11-25"; null until its current process has answered the handshake. */
  revision: string | null;
  /** Why there is no revision: "not yet" (it has not answered), "not running". */
  missing: string | null;
  /** What bridgedock declared for all clients, one capability with its modes each:
   * ["roots", "sampling", "elicitation (form, URL)"]; null while unknown or when `perClient`. */
  declared: string[] | null;
  /** How a 2026-07-28 server (no handshake) learns capabilities: from each client's requests. */
  perClient: string | null;
}

export interface ServerView {
  words: string;
  tone: Tone;
  /** One line under the name: "up 2 min", "attempt 3 — next try in 8 s", "Starting — 34 s", … */
  detail: string;
  /** starting: its newest stderr line (npx or uvx download progress), shown under the detail. */
  lastLine: string | null;
  protocol: ProtocolFacts;
  uptime: string; // "—" when not running
  panel: Panel | null;
  lastExit: string | null;
  canStart: boolean;
  canStop: boolean;
  canRestart: boolean;
}

export function describeServer(s: ServerStatus, nowMs: number): ServerView {
  const upSince = s.state === 'running' ? (s.since_ms ?? s.started_at_ms) : null;
  const uptime = upSince !== null && upSince !== undefined ? formatUptime(nowMs - upSince) : '—';
  let detail = '';
  let lastLine: string | null = null;
  let panel: Panel | null = null;
  // Since the process was spawned: starting and not answering count from there.
  const since = s.since_ms ?? s.started_at_ms ?? null;
  const waited = since !== null ? formatUptime(nowMs - since) : null;
  switch (s.state) {
    case 'running':
      detail = `up ${uptime}`;
      break;
    case 'starting':
      detail = waited !== null ? `Starting — ${waited}` : 'Starting…';
      lastLine = s.last_line?.trim() || null;
      break;
    case 'not-answering':
      detail = waited !== null ? `Alive for ${waited}, not answering` : 'Alive, not answering';
      panel = {
        kind: 'not-answering',
        title: 'Clients cannot use it until it answers',
        text: sentence(s.reason ?? 'its process has not answered bridgedock’s MCP handshake'),
        lastLine: s.last_line?.trim() || undefined,
        lines: [],
      };
      break;
    case 'stopping':
      detail = 'stopping…';
      break;
    case 'stopped':
      // Exited by itself (the engine says so in its words), or stopped on request.
      detail = s.words === 'Exited' ? `${s.summary} (restart = "${s.restart_policy}")` : s.autostart ? 'stopped' : 'stopped (autostart off)';
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
  return {
    words: s.words,
    tone: s.health,
    detail,
    lastLine,
    protocol: protocolFacts(s),
    uptime,
    panel,
    lastExit,
    canStart: s.actions.start,
    canStop: s.actions.stop,
    canRestart: s.actions.restart,
  };
}

/** "its process (pid 4) has …" → "Its process (pid 4) has …." (the engine's words, as a sentence). */
function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const capital = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * The protocol facts of a server's current process. Only a running server has answered the
 * handshake: for any other state the revision is unknown (or belongs to a process that is gone).
 */
export function protocolFacts(s: ServerStatus): ProtocolFacts {
  if (s.state !== 'running' || !s.protocol_revision) {
    const alive = s.state === 'running' || s.state === 'starting' || s.state === 'not-answering';
    return { revision: null, missing: alive ? 'not yet' : 'not running', declared: null, perClient: null };
  }
  if (!s.declared_capabilities) {
    // A 2026-07-28 server has no handshake: each request carries its own client's capabilities.
    return { revision: s.protocol_revision, missing: null, declared: null, perClient: 'none up front: each client’s own, with each request' };
  }
  const list = capabilityList(s.declared_capabilities);
  return { revision: s.protocol_revision, missing: null, declared: list.length ? list : ['nothing'], perClient: null };
}

const CAPABILITY_WORDS: Record<string, string> = { url: 'URL' };
// The engine's JSON comes with its keys sorted: people read them in this order, the rest after.
const CAPABILITY_ORDER = ['roots', 'sampling', 'elicitation', 'form', 'url', 'tools', 'resources', 'prompts'];
const rank = (k: string) => {
  const i = CAPABILITY_ORDER.indexOf(k);
  return i === -1 ? CAPABILITY_ORDER.length : i;
};
const ordered = (keys: string[]) => [...keys].sort((a, b) => rank(a) - rank(b));
// Flags about notifications, not things a client can do: left out of the words.
const FLAGS = new Set(['listChanged', 'subscribe']);

/** `{"roots": {"listChanged": true}, "sampling": {}, "elicitation": {"form": {}, "url": {}}}` →
 * "roots, sampling, elicitation (form, URL)". */
export function capabilityWords(caps: Capabilities): string {
  const words = capabilityList(caps);
  return words.length ? words.join(', ') : 'nothing';
}

/** The same as a list, one capability with its modes each: ["roots", "elicitation (form, URL)"]. */
export function capabilityList(caps: Capabilities): string[] {
  return ordered(Object.keys(caps)).map((name) => {
    const value = caps[name];
    const modes =
      value && typeof value === 'object' && !Array.isArray(value)
        ? ordered(Object.keys(value as object))
            .filter((k) => !FLAGS.has(k))
            .map((k) => CAPABILITY_WORDS[k] ?? k)
        : [];
    const word = CAPABILITY_WORDS[name] ?? name;
    return modes.length ? `${word} (${modes.join(', ')})` : word;
  });
}

/** The bridge endpoints for a server (served by the bridge at `address`, e.g. 127.0.0.1:7455). */
export function endpoints(address: string, name: string): { ws: string; http: string } {
  const n = encodeURIComponent(name);
  return { ws: `ws://${address}/mcp/${n}`, http: `http://${address}/mcp/${n}` };
}
