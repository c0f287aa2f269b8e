// The event stream: one WebSocket, reopened by itself after a drop with backoff
// (1, 2, 4, 8, 16, 30 s), resuming the log at the last seq seen.

import type { DockEvent } from './types';
import { reconnectDelayMs } from './state/backoff';

export type ConnState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'waiting'; attempt: number; retryAtMs: number; reason: string };

export interface StreamHooks {
  url: () => string; // asked at each (re)connect, so `since` is current
  onEvent: (ev: DockEvent) => void;
  onState: (s: ConnState) => void;
  /** Called when a connection failed before opening; may explain why (e.g. a bad token). */
  diagnose?: () => Promise<string | null>;
}

export class EventStream {
  private ws: WebSocket | null = null;
  private timer: number | null = null;
  private attempt = 0;
  private stopped = false;

  constructor(private hooks: StreamHooks) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
  }

  /** Reconnect now (the "Retry now" button, or a resync after a new daemon appeared). */
  reconnectNow(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const old = this.ws;
    this.ws = null;
    if (old) {
      old.onclose = null;
      old.onmessage = null;
      old.close();
    }
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.hooks.onState({ kind: 'connecting', attempt: this.attempt });
    let opened = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.hooks.url());
    } catch {
      this.scheduleRetry('could not open the event stream');
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      let ev: DockEvent;
      try {
        ev = JSON.parse(typeof m.data === 'string' ? m.data : '');
      } catch {
        return;
      }
      if (ev.type === 'snapshot') {
        this.attempt = 0;
        this.hooks.onState({ kind: 'open' });
      }
      this.hooks.onEvent(ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (!opened && this.hooks.diagnose) {
        this.hooks.diagnose().then(
          (why) => this.scheduleRetry(why ?? 'bridgedock is not reachable'),
          () => this.scheduleRetry('bridgedock is not reachable'),
        );
      } else {
        this.scheduleRetry(opened ? 'the event stream closed' : 'bridgedock is not reachable');
      }
    };
  }

  private scheduleRetry(reason: string): void {
    if (this.stopped) return;
    const delay = reconnectDelayMs(this.attempt);
    const retryAtMs = Date.now() + delay;
    this.hooks.onState({ kind: 'waiting', attempt: this.attempt, retryAtMs, reason });
    this.attempt++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.timer = null;
      this.open();
    }, delay);
  }
}
