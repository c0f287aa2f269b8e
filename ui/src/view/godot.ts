// godot-ai servers in the dock: the card's editor-side facts and diagnoses, and the
// "Godot editors" section (who is connected, readiness, scene, link to godot-ai, commands).

import type { EditorSession, ServerStatus } from '../types';
import { godotVersionText, linkText, projectName, readinessWords } from '../state/godot';
import { ago, clockTime } from '../state/time';
import type { ViewModel } from './app';
import { h } from './dom';

/** The card's version fact for a godot-ai server. */
export function godotVersion(s: ServerStatus) {
  const v = godotVersionText(s);
  return h('span', { class: v.tone === 'warn' ? 'tone-text-warn' : v.tone === 'idle' ? 'muted' : '', 'data-testid': 'godot-version' }, v.text);
}

/** Ports, editors and what is wrong, under the card's facts. */
export function godotCardParts(s: ServerStatus) {
  const g = s.godot!;
  const editors = g.editors.length;
  return [
    h(
      'p',
      { class: 'godot-ports small' },
      h('span', { class: 'muted' }, 'Godot plugin: '),
      h('code', null, `ws://127.0.0.1:${g.ws_port}`),
      h('span', { class: 'muted' }, ' · godot-ai HTTP: '),
      h('code', null, `http://127.0.0.1:${g.http_port}`),
      h('span', { class: 'muted' }, g.listening ? ` — ${editors} editor${editors === 1 ? '' : 's'} connected` : ' — ports not held yet'),
      g.adopted_port
        ? h('span', { class: 'tone-text-busy', 'data-testid': 'adopted' }, ` · adopted: godot-ai ${g.adopted_version ?? ''} on port ${g.adopted_port}, not started by bridgedock`)
        : null,
    ),
    g.diagnoses.length
      ? h(
          'div',
          { class: 'panel panel-diagnoses', role: 'group', 'aria-label': `What is wrong with ${s.name}` },
          g.diagnoses.map((d) =>
            h(
              'div',
              { class: 'diagnosis', 'data-code': d.code, 'data-key': `diag:${d.code}:${d.message}` },
              h('p', { class: 'panel-title' }, d.message),
              h('p', { class: 'panel-hint' }, d.hint),
            ),
          ),
        )
      : null,
  ];
}

function editorRow(server: ServerStatus, e: EditorSession, vm: ViewModel) {
  const link = linkText(e, vm.now);
  const pluginMismatch = !!server.godot?.live_version && !!e.plugin_version && e.plugin_version !== server.godot.live_version;
  return h(
    'tr',
    { 'data-key': `editor:${server.name}:${e.session_id}`, 'data-session': e.session_id, class: link.tone === 'ok' ? '' : 'row-warn' },
    h('th', { scope: 'row' }, projectName(e.project_path), h('div', { class: 'muted small', title: e.project_path }, `${e.project_path} · pid ${e.editor_pid}`)),
    h(
      'td',
      null,
      `Godot ${e.godot_version.split(' ')[0]}`,
      h('div', { class: `small ${pluginMismatch ? 'tone-text-warn' : 'muted'}` }, `plugin ${e.plugin_version}`),
    ),
    h('td', null, h('span', { class: `badge small tone-${e.readiness === 'ready' ? 'ok' : 'busy'}`, 'data-testid': 'readiness' }, readinessWords(e.readiness))),
    h(
      'td',
      null,
      e.current_scene ? h('code', null, e.current_scene) : h('span', { class: 'muted' }, 'no scene'),
      e.play_state ? h('div', { class: 'muted small' }, e.play_state === 'playing' ? '▶ playing' : '■ stopped') : null,
    ),
    h('td', { 'data-testid': 'link' }, h('span', { class: `tone-text-${link.tone}` }, link.text), h('div', { class: 'muted small' }, `to ${server.name}`)),
    h('td', { title: clockTime(e.connected_at_ms) }, ago(e.connected_at_ms, vm.now)),
    h(
      'td',
      { class: 'num' },
      `${e.commands_in_flight} / ${e.commands_done}`,
      e.last_command
        ? h('div', { class: 'muted small' }, `${e.last_command}${e.last_latency_ms !== null ? ` · ${e.last_latency_ms.toFixed(e.last_latency_ms < 10 ? 1 : 0)} ms` : ''}`)
        : null,
    ),
  );
}

/** The "Godot editors" section; nothing when no godot-ai server is configured. */
export function renderEditors(vm: ViewModel): HTMLElement {
  const servers = (vm.snapshot?.servers ?? []).filter((s) => s.godot);
  if (servers.length === 0) return h('div', { class: 'is-hidden' });
  const rows = servers.flatMap((s) => s.godot!.editors.map((e) => editorRow(s, e, vm)));
  const port = servers[0].godot!.ws_port;
  return h(
    'section',
    { class: 'section', 'aria-labelledby': 'editors-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'editors-h' }, 'Godot editors'), h('span', { class: 'muted small' }, `${rows.length} connected`)),
    rows.length === 0
      ? h(
          'div',
          { class: 'empty', id: 'editors-empty' },
          h('p', null, 'No Godot editor connected yet — open your project with the Godot AI plugin enabled.'),
          h('p', { class: 'muted small' }, `The plugin finds bridgedock on 127.0.0.1:${port} by itself and attaches instead of starting its own server.`),
        )
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'clients editors' },
            h('thead', null, h('tr', null, ...['Project', 'Versions', 'Readiness', 'Scene', 'Link', 'Connected', 'Commands (in flight / done)'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, rows),
          ),
        ),
  );
}
