// Wiring: endpoint → event stream → reducer → views. All decisions live in state/*.

import './styles.css';
import { Api, ApiError, type Endpoint, resolveEndpoint } from './api';
import { type ConnState, EventStream } from './connection';
import { type DockState, INITIAL, reduce } from './state/reducer';
import { msUntilNextSecond } from './state/time';
import type { DockEvent } from './types';
import { type Action, type ViewModel, renderBanners, renderClients, renderConnection, renderHeader, renderServers } from './view/app';
import { renderEditors } from './view/godot';
import { copyText, morphChildren } from './view/dom';
import { LogView } from './view/logview';

async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  const slots = {
    header: document.getElementById('slot-header')!,
    conn: document.getElementById('slot-conn')!,
    banners: document.getElementById('slot-banners')!,
    servers: document.getElementById('slot-servers')!,
    clients: document.getElementById('slot-clients')!,
    editors: document.getElementById('slot-editors')!,
  };
  const announcer = document.getElementById('announcer')!;
  const logs = new LogView();
  document.getElementById('slot-logs')!.replaceWith(logs.el);

  let ep: Endpoint;
  try {
    ep = await resolveEndpoint();
  } catch (e) {
    ep = { api: location.origin, token: null, desktop: true };
    console.error('dock_endpoint failed', e);
  }
  const api = new Api(ep);

  let state: DockState = INITIAL;
  let received = 0;
  // Read-only numbers for the benchmark and tests (bench/dock).
  (window as unknown as { __dockStats: () => object }).__dockStats = () => ({ received, buffered: logs.store.total, shown: logs.store.count, lastSeq: state.lastSeq });
  const vm: ViewModel = {
    snapshot: null,
    conn: { kind: 'connecting', attempt: 0 },
    now: Date.now(),
    localNow: Date.now(),
    pending: new Map(),
    errors: new Map(),
    copied: null,
    dockUrl: api.dockUrl(),
    fatal: ep.token ? null : 'No token — open the dock URL that bridgedockd printed (it ends in #token=…).',
    everConnected: false,
  };

  let renderQueued = false;
  let lastHeardAt = 0;
  const render = () => {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      vm.localNow = Date.now();
      // While disconnected, time stands still at the last moment the engine was heard from
      // (an uptime that keeps counting would claim something nobody knows).
      if (vm.conn.kind === 'open' || lastHeardAt === 0) lastHeardAt = vm.localNow;
      vm.now = lastHeardAt + state.clockOffsetMs;
      vm.snapshot = state.snapshot;
      morphChildren(slots.header, wrap('div', renderHeader(vm)));
      morphChildren(slots.conn, wrap('div', renderConnection(vm)));
      morphChildren(slots.banners, wrap('div', renderBanners(vm)));
      morphChildren(slots.servers, wrap('div', renderServers(vm)));
      morphChildren(slots.editors, wrap('div', renderEditors(vm)));
      morphChildren(slots.clients, wrap('div', renderClients(vm)));
      root.toggleAttribute('data-ready', !!state.snapshot);
      if (state.snapshot) logs.setSources(state.snapshot.servers.map((s) => s.name));
      scheduleTick();
    });
  };
  // Countdowns, the bridge's uptime and "reconnecting in N s" change once a second: the next
  // render comes right after the soonest of them changes (uptimes of servers and "… ago" ride
  // along, at most a second late), and every render moves it.
  let tickTimer = 0;
  function scheduleTick(): void {
    const left: number[] = [];
    const elapsed: number[] = [];
    const snap = state.snapshot;
    if (vm.conn.kind === 'waiting') left.push(vm.conn.retryAtMs - vm.localNow);
    if (snap && vm.conn.kind === 'open') {
      elapsed.push(vm.now - snap.bridge.started_at_ms);
      for (const s of snap.servers) {
        if (s.state === 'backoff' && s.next_at_ms !== undefined) left.push(s.next_at_ms - vm.now);
        // "Starting — 34 s" and "Not answering — started 2 min ago" count up.
        if ((s.state === 'starting' || s.state === 'not-answering') && s.since_ms !== undefined) elapsed.push(vm.now - s.since_ms);
      }
    }
    clearTimeout(tickTimer);
    tickTimer = window.setTimeout(render, msUntilNextSecond(left, elapsed));
  }
  function wrap(tag: string, child: HTMLElement): HTMLElement {
    const w = document.createElement(tag);
    w.appendChild(child);
    return w;
  }

  const announce = (texts: string[]) => {
    if (texts.length) announcer.textContent = texts.join('. ');
  };

  const stream = new EventStream({
    url: () => api.eventsUrl(state.lastSeq || null),
    onEvent: (ev: DockEvent) => {
      const out = reduce(state, ev, Date.now());
      const statusChanged = out.state.snapshot !== state.snapshot;
      state = out.state;
      if (out.log.length) {
        received += out.log.length;
        logs.push(out.log);
      }
      announce(out.announce);
      if (statusChanged) render();
      if (out.resync) stream.reconnectNow();
    },
    onState: (c: ConnState) => {
      if (c.kind === 'open') {
        if (vm.everConnected && vm.conn.kind !== 'open') announce(['Reconnected to bridgedock']);
        vm.everConnected = true;
        vm.fatal = ep.token ? null : vm.fatal;
      } else if (c.kind === 'waiting' && vm.conn.kind === 'open') {
        announce(['Disconnected from bridgedock']);
      }
      vm.conn = c;
      render();
    },
    diagnose: async () => {
      try {
        await api.status();
        return null;
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return e.message.replace(/\.$/, '');
        return null;
      }
    },
  });

  async function act(server: string, action: Action): Promise<void> {
    if (vm.pending.has(server)) return;
    vm.pending.set(server, action);
    vm.errors.delete(server);
    render();
    try {
      const s = await api.action(server, action);
      const out = reduce(state, { type: 'server', server: s }, Date.now());
      state = out.state;
    } catch (e) {
      vm.errors.set(server, `${action[0].toUpperCase()}${action.slice(1)} failed: ${(e as Error).message}`);
    } finally {
      vm.pending.delete(server);
      render();
    }
  }

  async function restartAll(): Promise<void> {
    if (vm.pending.has('*')) return;
    vm.pending.set('*', 'restart');
    render();
    try {
      await api.restartAll();
    } catch (e) {
      announce([`Restart all failed: ${(e as Error).message}`]);
    } finally {
      vm.pending.delete('*');
      render();
    }
  }

  let copiedTimer = 0;
  /** Shows "Copied ✓" on the button that copied (or says it failed), for 1.5 s. */
  function copied(btn: Element, ok: boolean, said: string): void {
    vm.copied = ok ? btn.getAttribute('data-copy-id') : null;
    announce([ok ? said : 'Copy failed']);
    clearTimeout(copiedTimer);
    copiedTimer = window.setTimeout(() => {
      vm.copied = null;
      render();
    }, 1500);
    render();
  }

  root.addEventListener('click', async (e) => {
    const btn = (e.target as Element).closest('button');
    if (!btn || btn.disabled) return;
    const copy = btn.getAttribute('data-copy');
    if (copy !== null) {
      copied(btn, await copyText(copy), 'Copied');
      return;
    }
    const setup = btn.getAttribute('data-setup');
    if (setup !== null) {
      const name = btn.getAttribute('data-server') ?? '';
      let ok = false;
      try {
        ok = await copyText(await api.clientConfig(name, setup));
      } catch (err) {
        announce([`Could not get the setup: ${(err as Error).message}`]);
      }
      copied(btn, ok, `Copied the ${btn.textContent} setup for ${name}`);
      return;
    }
    const action = btn.getAttribute('data-action');
    const server = btn.getAttribute('data-server');
    if (action === 'reconnect') stream.reconnectNow();
    else if (action === 'restart-all') void restartAll();
    else if (action === 'show-log' && server) logs.showSource(server);
    else if (server && (action === 'start' || action === 'stop' || action === 'restart')) void act(server, action);
  });

  render();
  stream.start();
}

void main();
