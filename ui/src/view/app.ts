// The status part of the page — header, connection bar, banners, server cards, clients —
// rendered from state by plain functions and morphed into place.

import type { ClientSession, ServerStatus, Snapshot } from '../types';
import { aggregate } from '../state/aggregate';
import { disconnectedText } from '../state/backoff';
import { type Banner, allBanners } from '../state/banners';
import { type ServerView, describeServer, endpoints } from '../state/server';
import { ago, clockTime, formatUptime } from '../state/time';
import type { ConnState } from '../connection';
import { h } from './dom';
import { godotCardParts, godotVersion } from './godot';

export type Action = 'start' | 'stop' | 'restart';

export interface ViewModel {
  snapshot: Snapshot | null;
  conn: ConnState;
  now: number; // engine clock (local clock + offset)
  localNow: number;
  pending: Map<string, Action>; // server → action in flight ('*' = restart all)
  errors: Map<string, string>; // server → last action error
  copied: string | null; // id of the copy button that just copied
  dockUrl: string;
  fatal: string | null; // e.g. no token
  everConnected: boolean;
}

/** The AI clients the engine can write a setup snippet for, in the user's words. */
export const SETUP_CLIENTS: [string, string][] = [
  ['claude-code', 'Claude Code'],
  ['cursor', 'Cursor'],
  ['vscode', 'VS Code'],
  ['claude-desktop', 'Claude Desktop'],
];

function setupButton(server: string, client: string, label: string, vm: ViewModel) {
  const id = `setup:${client}:${server}`;
  const done = vm.copied === id;
  return h(
    'button',
    {
      type: 'button',
      class: `btn btn-ghost btn-copy${done ? ' is-done' : ''}`,
      'data-setup': client,
      'data-server': server,
      'data-copy-id': id,
      title: `Copy the ${label} setup for ${server} (token included)`,
      'aria-label': `Copy the ${label} setup for ${server}${done ? ' (copied)' : ''}`,
    },
    done ? 'Copied ✓' : label,
  );
}

const PENDING_WORDS: Record<Action, string> = { start: 'Starting…', stop: 'Stopping…', restart: 'Restarting…' };
const LABEL: Record<Action, string> = { start: 'Start', stop: 'Stop', restart: 'Restart' };

function copyButton(id: string, text: string, label: string, vm: ViewModel) {
  const done = vm.copied === id;
  return h(
    'button',
    { type: 'button', class: `btn btn-ghost btn-copy${done ? ' is-done' : ''}`, 'data-copy': text, 'data-copy-id': id, 'aria-label': `${label}${done ? ' (copied)' : ''}` },
    done ? 'Copied ✓' : 'Copy',
  );
}

export function renderHeader(vm: ViewModel): HTMLElement {
  const snap = vm.snapshot;
  const agg = snap ? aggregate(snap) : { text: vm.conn.kind === 'open' ? 'Loading…' : 'Connecting…', tone: 'idle' as const };
  const offline = vm.conn.kind !== 'open' && vm.everConnected;
  const b = snap?.bridge;
  return h(
    'header',
    { class: 'topbar' },
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, '⚓'),
      h('h1', null, 'bridgedock'),
      b ? h('span', { class: 'muted small' }, `v${b.version}`) : null,
    ),
    h(
      'div',
      { class: `aggregate tone-${offline ? 'idle' : agg.tone}`, role: 'status', 'aria-live': 'polite', id: 'aggregate' },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      offline ? 'Offline' : agg.text,
    ),
    h(
      'div',
      { class: 'bridge-info' },
      b && b.address
        ? [
            h('span', { class: 'kv' }, h('span', { class: 'k' }, 'Address'), h('code', { class: 'v', id: 'bridge-address' }, b.address)),
            copyButton('address', b.address, 'Copy bridge address', vm),
            h('span', { class: 'kv' }, h('span', { class: 'k' }, 'Up'), h('span', { class: 'v', id: 'bridge-uptime' }, formatUptime(vm.now - b.started_at_ms))),
            h('span', { class: 'kv' }, h('span', { class: 'k' }, 'PID'), h('span', { class: 'v' }, String(b.pid))),
          ]
        : null,
      h('button', { type: 'button', class: `btn btn-ghost btn-copy${vm.copied === 'dock-url' ? ' is-done' : ''}`, 'data-copy': vm.dockUrl, 'data-copy-id': 'dock-url', 'aria-label': 'Copy the dock URL (without the token)' }, vm.copied === 'dock-url' ? 'Copied ✓' : 'Copy dock URL'),
      snap && snap.servers.length > 1
        ? h(
            'button',
            { type: 'button', class: 'btn', 'data-action': 'restart-all', disabled: vm.pending.has('*') || vm.conn.kind !== 'open' },
            vm.pending.has('*') ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Restarting all…'] : 'Restart all',
          )
        : null,
    ),
  );
}

export function renderConnection(vm: ViewModel): HTMLElement {
  const c = vm.conn;
  if (vm.fatal) return h('div', { class: 'connbar tone-bad', role: 'alert' }, h('strong', null, vm.fatal));
  if (c.kind === 'open') return h('div', { class: 'connbar is-hidden', 'aria-hidden': 'true' });
  if (c.kind === 'connecting') {
    return h(
      'div',
      { class: `connbar ${vm.everConnected ? 'tone-busy' : 'tone-idle'}`, role: 'status' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      vm.everConnected ? 'Reconnecting to bridgedock…' : 'Connecting to bridgedock…',
    );
  }
  return h(
    'div',
    { class: 'connbar tone-bad', role: 'alert', id: 'disconnected' },
    h('strong', null, disconnectedText(c.retryAtMs, vm.localNow)),
    h('span', { class: 'muted' }, ` ${c.reason}.`),
    h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'reconnect' }, 'Retry now'),
  );
}

export function renderBanners(vm: ViewModel): HTMLElement {
  const list: Banner[] = vm.snapshot ? allBanners(vm.snapshot.servers, vm.snapshot.clients) : [];
  const orphans = vm.snapshot?.bridge.reaped_orphans ?? [];
  return h(
    'div',
    { class: 'banners', 'aria-live': 'polite' },
    list.map((b) =>
      h(
        'div',
        { class: `banner tone-${b.tone}`, 'data-key': b.id, role: 'alert' },
        h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, '⚠'),
        h('span', { class: 'banner-text' }, b.text),
        b.action && b.action.kind !== 'open'
          ? h('button', { type: 'button', class: 'btn btn-small', 'data-action': b.action.kind, 'data-server': b.action.target, disabled: vm.pending.has(b.action.target) || vm.conn.kind !== 'open' }, b.action.label)
          : null,
      ),
    ),
    orphans.length
      ? h(
          'div',
          { class: 'banner tone-info', 'data-key': 'orphans' },
          h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, 'ℹ'),
          h(
            'span',
            { class: 'banner-text' },
            `Cleaned up after a previous crash of bridgedock: ${orphans.map((o) => `${o.server} (pid ${o.pid}, ${o.processes} process${o.processes === 1 ? '' : 'es'})`).join(', ')}`,
          ),
        )
      : null,
  );
}

function actionButton(s: ServerStatus, action: Action, enabled: boolean, vm: ViewModel, extraLabel?: string, ariaLabel?: string) {
  const pending = vm.pending.get(s.name);
  const busy = pending === action;
  const disabled = !enabled || pending !== undefined || vm.conn.kind !== 'open';
  return h(
    'button',
    {
      type: 'button',
      class: `btn${action === 'stop' ? ' btn-quiet' : action === 'restart' || action === 'start' ? ' btn-primary' : ''}`,
      'data-action': action,
      'data-server': s.name,
      disabled,
      'aria-busy': busy ? 'true' : null,
      'aria-label': ariaLabel ?? `${extraLabel ?? LABEL[action]} ${s.name}`,
    },
    busy ? [h('span', { class: 'spinner', 'aria-hidden': 'true' }), PENDING_WORDS[action]] : (extraLabel ?? LABEL[action]),
  );
}

function version(s: ServerStatus) {
  const e = s.expected_version?.trim() || null;
  const r = s.reported_version?.trim() || null;
  if (!e && !r) return h('span', { class: 'muted' }, 'not reported');
  const mismatch = e && r && e !== r;
  return h(
    'span',
    { class: mismatch ? 'tone-text-warn' : '' },
    r ? `${r}` : h('span', { class: 'muted' }, 'not reported yet'),
    e ? h('span', { class: 'muted' }, ` (expected ${e})`) : null,
  );
}

/** The protocol facts: the revision bridgedock speaks with the server, and what it declared. */
function protocolFacts(v: ServerView) {
  const p = v.protocol;
  return [
    h(
      'div',
      null,
      h('dt', { title: 'The MCP revision bridgedock speaks with this server' }, 'Protocol'),
      h('dd', { class: 'nowrap', 'data-testid': 'protocol' }, p.revision ?? h('span', { class: 'muted' }, p.missing ?? '—')),
    ),
    h(
      'div',
      { class: 'span2' },
      h('dt', { title: 'The client capabilities bridgedock declared to this server for all its clients' }, 'bridgedock declared'),
      h(
        'dd',
        { 'data-testid': 'declared' },
        // Each capability stays whole on a line: "elicitation (form, URL)" never splits.
        p.declared ? p.declared.map((w, i) => [i ? ', ' : '', h('span', { class: 'nowrap' }, w)]) : (p.perClient ?? h('span', { class: 'muted' }, '—')),
      ),
    ),
  ];
}

/** A stderr line on one line: ellipsized, the whole of it on hover. */
function oneLine(text: string, testid: string) {
  return h('code', { class: 'one-line', title: text, 'data-testid': testid }, text);
}

/** An endpoint URL that may wrap only before its path ("/mcp/NAME" stays whole). */
function breakable(url: string) {
  const i = url.indexOf('/', url.indexOf('//') + 2);
  return h('code', { class: 'url' }, i > 0 ? [url.slice(0, i), h('wbr'), url.slice(i)] : url);
}

export function renderCard(s: ServerStatus, vm: ViewModel): HTMLElement {
  const v = describeServer(s, vm.now);
  const address = vm.snapshot?.bridge.address ?? '';
  const ep = address ? endpoints(address, s.name) : null;
  const stale = vm.conn.kind !== 'open';
  const err = vm.errors.get(s.name);
  const panel = v.panel;
  return h(
    'article',
    { class: `card tone-${v.tone}${stale ? ' is-stale' : ''}`, 'data-key': `server:${s.name}`, 'data-server': s.name, 'data-state': s.state, 'aria-labelledby': `srv-${s.name}` },
    h(
      'div',
      { class: 'card-head' },
      h('h3', { id: `srv-${s.name}`, class: 'card-title' }, s.name),
      h('span', { class: `badge tone-${v.tone}`, 'data-testid': 'badge' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), v.words),
    ),
    h('p', { class: 'card-detail', 'data-testid': 'detail' }, v.detail),
    s.state === 'starting'
      ? h(
          'p',
          { class: 'card-progress small' },
          v.lastLine ? oneLine(v.lastLine, 'last-line') : h('span', { class: 'muted' }, 'No output yet — waiting for its first answer'),
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('div', null, h('dt', null, 'PID'), h('dd', { 'data-testid': 'pid' }, s.pid !== null ? String(s.pid) : '—')),
      h('div', null, h('dt', null, 'Uptime'), h('dd', { 'data-testid': 'uptime' }, v.uptime)),
      h('div', null, h('dt', null, 'Restarts'), h('dd', { 'data-testid': 'restarts' }, String(s.restarts))),
      h('div', null, h('dt', null, 'Transport'), h('dd', null, s.transport)),
      h('div', null, h('dt', null, 'Restart policy'), h('dd', null, s.restart_policy)),
      h('div', s.godot ? { class: 'wide' } : null, h('dt', null, 'Version'), h('dd', null, s.godot ? godotVersion(s) : version(s))),
      ...protocolFacts(v),
      h('div', { class: 'wide' }, h('dt', null, 'Command'), h('dd', null, h('code', { class: 'command', title: s.command.join(' ') }, s.command.join(' ')))),
    ),
    ...(s.godot ? godotCardParts(s) : []),
    panel
      ? h(
          'div',
          { class: `panel panel-${panel.kind}`, role: panel.kind === 'no-command' ? 'note' : 'group', 'aria-label': panel.title },
          h('p', { class: 'panel-title' }, panel.title),
          panel.hint ? h('p', { class: 'panel-hint', 'data-testid': 'hint' }, panel.hint) : null,
          panel.text ? h('p', { class: 'panel-text', 'data-testid': 'reason' }, panel.text) : null,
          panel.kind === 'not-answering'
            ? h(
                'p',
                { class: 'panel-last-line small' },
                h('span', { class: 'muted' }, 'Last line'),
                panel.lastLine ? oneLine(panel.lastLine, 'last-line') : h('span', { class: 'muted' }, 'no stderr output'),
              )
            : panel.lines.length
              ? h('pre', { class: 'stderr', 'aria-label': 'last stderr lines' }, panel.lines.slice(-12).join('\n'))
              : panel.kind !== 'no-command'
                ? h('p', { class: 'muted small' }, 'No stderr output.')
                : null,
          panel.kind === 'failed' ? actionButton(s, 'start', true, vm, 'Retry') : null,
          panel.kind === 'not-answering'
            ? h(
                'div',
                { class: 'panel-actions' },
                actionButton(s, 'restart', v.canRestart, vm, 'Restart', `Restart ${s.name}, which is not answering`),
                h('button', { type: 'button', class: 'btn btn-quiet', 'data-action': 'show-log', 'data-server': s.name }, 'Show its log'),
              )
            : null,
        )
      : null,
    ep
      ? h(
          'div',
          { class: 'endpoints' },
          s.godot ? null : h('div', { class: 'endpoint' }, h('span', { class: 'ep-kind' }, 'WebSocket'), breakable(ep.ws), copyButton(`ws:${s.name}`, ep.ws, `Copy WebSocket endpoint of ${s.name}`, vm)),
          h('div', { class: 'endpoint' }, h('span', { class: 'ep-kind' }, 'HTTP'), breakable(ep.http), copyButton(`http:${s.name}`, ep.http, `Copy HTTP endpoint of ${s.name}`, vm)),
          h(
            'div',
            { class: 'endpoint setup' },
            h('span', { class: 'ep-kind' }, 'Set up'),
            h('span', { class: 'setup-clients' }, ...SETUP_CLIENTS.map(([c, label]) => setupButton(s.name, c, label, vm))),
          ),
        )
      : null,
    v.lastExit ? h('p', { class: 'last-exit small' }, h('span', { class: 'muted' }, 'Last exit: '), h('span', { 'data-testid': 'last-exit' }, v.lastExit)) : null,
    err ? h('p', { class: 'action-error small', role: 'alert' }, err) : null,
    h(
      'div',
      { class: 'actions' },
      actionButton(s, 'start', v.canStart, vm),
      actionButton(s, 'stop', v.canStop, vm),
      actionButton(s, 'restart', v.canRestart, vm),
    ),
  );
}

export function renderServers(vm: ViewModel): HTMLElement {
  const snap = vm.snapshot;
  let body: HTMLElement | HTMLElement[];
  if (!snap) {
    body = h('div', { class: 'empty' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), vm.everConnected ? 'Waiting for bridgedock…' : 'Loading servers…');
  } else if (snap.servers.length === 0) {
    body = h(
      'div',
      { class: 'empty' },
      h('p', null, h('strong', null, 'No servers configured.')),
      h('p', { class: 'muted' }, 'Add one to ', h('code', null, snap.bridge.config_path ?? 'config.toml'), ' ([servers.NAME] with a command), then restart bridgedock.'),
    );
  } else {
    body = h('div', { class: 'cards' }, snap.servers.map((s) => renderCard(s, vm)));
  }
  return h(
    'section',
    { class: 'section', 'aria-labelledby': 'servers-h' },
    h(
      'div',
      { class: 'section-head' },
      h('h2', { id: 'servers-h' }, 'Servers'),
      snap ? h('span', { class: 'muted small' }, `${snap.servers.length} configured`) : null,
      snap && vm.conn.kind !== 'open' ? h('span', { class: 'small stale-note' }, 'last known state — bridgedock is not answering') : null,
    ),
    body,
  );
}

function clientRow(c: ClientSession, vm: ViewModel) {
  const who = c.client_name ? `${c.client_name}${c.client_version ? ' ' + c.client_version : ''}` : 'unknown client';
  return h(
    'tr',
    { 'data-key': c.id, class: c.protocol_mismatch ? 'row-warn' : '' },
    h('th', { scope: 'row' }, who, h('div', { class: 'muted small' }, `${c.transport} · ${c.peer}`)),
    h('td', null, c.protocol_version ?? '—', c.protocol_mismatch ? h('span', { class: 'badge tone-busy small' }, 'mismatch') : null),
    h('td', null, c.server),
    h('td', { title: clockTime(c.connected_at_ms) }, ago(c.connected_at_ms, vm.now)),
    h('td', { class: 'num' }, String(c.pending)),
    h('td', { class: 'num' }, `${c.messages_in} / ${c.messages_out}`),
    h('td', { class: 'num' }, String(c.reconnects)),
  );
}

export function renderClients(vm: ViewModel): HTMLElement {
  const clients = vm.snapshot?.clients ?? [];
  return h(
    'section',
    { class: 'section', 'aria-labelledby': 'clients-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'clients-h' }, 'Client sessions'), h('span', { class: 'muted small' }, `${clients.length} connected`)),
    clients.length === 0
      ? h(
          'div',
          { class: 'empty', id: 'clients-empty' },
          h('p', null, 'No clients connected yet — point your AI client at a server’s endpoint.'),
          h('p', { class: 'muted small' }, 'Each server card copies its endpoints, and the setup for Claude Code, Cursor, VS Code or Claude Desktop.'),
        )
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'clients' },
            h('thead', null, h('tr', null, ...['Client', 'Protocol', 'Server', 'Connected', 'Pending', 'Messages in / out', 'Reconnects'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, clients.map((c) => clientRow(c, vm))),
          ),
        ),
  );
}
