import { describe, expect, it } from 'vitest';
import type { EditorSession, GodotStatus, ServerStatus } from '../types';
import { MEANING } from './fixtures.test-util';
import { godotBanners, godotVersionText, linkText, projectName, readinessWords } from './godot';

function godot(over: Partial<GodotStatus> = {}): GodotStatus {
  return {
    http_port: 8000, ws_port: 9500, backend_http_port: 40001, backend_ws_port: 40002, listening: true,
    expected_version: '4.3.1', live_version: '4.3.1', instance_id: 'abc', record_path: '/x/http-8000.json',
    editors: [], circuit: 'closed', circuit_failures: 0, diagnoses: [], ...over,
  };
}

function server(g: GodotStatus, state: ServerStatus['state'] = 'running'): ServerStatus {
  return {
    ...MEANING[state],
    name: 'godot', state, pid: 1, started_at_ms: 0, uptime_ms: 0, restarts: 0, transport: 'stdio',
    restart_policy: 'on-failure', autostart: true, command: ['uvx'], expected_version: g.expected_version,
    reported_version: g.live_version, last_exit: null, godot: g,
  };
}

function editor(over: Partial<EditorSession> = {}): EditorSession {
  return {
    session_id: 'game@1', project_path: '/home/me/game/', godot_version: '4.7-stable', plugin_version: '4.3.1',
    editor_pid: 7, readiness: 'ready', current_scene: 'res://main.tscn', play_state: null, connected_at_ms: 0,
    upstream: 'connected', upstream_since_ms: 0, circuit: 'closed', circuit_failures: 0, reconnect_attempts: 0, next_attempt_at_ms: null, replays: 0,
    commands_in_flight: 0, commands_done: 0, last_command: null, last_latency_ms: null, last_message_ms: 0, ...over,
  };
}

describe('godot-ai versions', () => {
  it('says it is checking until the server answers', () => {
    expect(godotVersionText(server(godot({ live_version: null })))).toEqual({
      text: 'checking live version (expected godot-ai == 4.3.1)',
      tone: 'idle',
    });
    expect(godotBanners(server(godot({ live_version: null })))).toEqual([]);
  });
  it('is quiet when equal and names both when different, offering the restart', () => {
    expect(godotVersionText(server(godot())).text).toBe('godot-ai == 4.3.1');
    const s = server(godot({ live_version: '4.2.3' }));
    expect(godotVersionText(s)).toEqual({ text: 'godot-ai == 4.2.3 (expected 4.3.1)', tone: 'warn' });
    const [b] = godotBanners(s);
    expect(b.text).toContain('godot-ai == 4.2.3 is running (expected 4.3.1)');
    expect(b.action).toEqual({ label: 'Restart godot', kind: 'restart', target: 'godot' });
  });
  it('never raises a banner for an unknown version', () => {
    expect(godotBanners(server(godot({ live_version: '' })))).toEqual([]);
    expect(godotBanners(server(godot({ editors: [editor({ plugin_version: '' })] })))).toEqual([]);
  });
  it("flags an editor plugin of another version than the server's", () => {
    const bs = godotBanners(server(godot({ editors: [editor({ plugin_version: '4.2.0' })] })));
    expect(bs).toHaveLength(1);
    expect(bs[0].text).toContain('The Godot plugin in game is 4.2.0, but godot runs godot-ai 4.3.1');
  });
});

describe('editor sessions', () => {
  it('counts down to the next reconnect attempt', () => {
    const e = editor({ upstream: 'reconnecting', reconnect_attempts: 2, next_attempt_at_ms: 10_000 });
    expect(linkText(e, 2_000).text).toBe('godot-ai is away — reconnecting: attempt 3, next try in 8 s (the editor stays connected)');
    expect(linkText(e, 9_500).text).toContain('next try in 1 s');
    const back = linkText(editor({ replays: 1, upstream_since_ms: 5_000 }), 9_000);
    expect(back.tone).toBe('ok');
    expect(back.text).toMatch(/^connected — back at \d\d:\d\d:\d\d after a godot-ai restart$/);
    const open = linkText(editor({ upstream: 'circuit open', circuit: 'open', circuit_failures: 5, next_attempt_at_ms: 30_000 }), 0);
    expect(open).toEqual({ text: 'circuit open after 5 failed attempts: paused, next try in 30 s', tone: 'bad' });
    expect(linkText(editor({ circuit: 'half-open' }), 0).text).toContain('half-open');
  });
  it('names projects and readiness in words', () => {
    expect(projectName('/home/me/game/')).toBe('game');
    expect(projectName('C:\\\\work\\\\demo\\\\')).toBe('demo');
    expect(readinessWords('no_scene')).toBe('no scene open');
    expect(readinessWords('importing')).toBe('importing assets');
  });
});
