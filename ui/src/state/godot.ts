// godot-ai servers: the version line with the plugin's meaning, its banners, the editor
// sessions' words. Pure functions of the status, tested in godot.test.ts.

import type { EditorSession, ServerStatus } from '../types';
import type { Banner } from './banners';
import { clockTime, secondsUntil } from './time';

const known = (v: string | null | undefined): v is string => typeof v === 'string' && v.trim() !== '';

export function isGodot(s: ServerStatus): boolean {
  return !!s.godot;
}

/** "checking live version (expected godot-ai == 4.3.1)", "godot-ai == 4.3.1", or the mismatch. */
export function godotVersionText(s: ServerStatus): { text: string; tone: 'ok' | 'warn' | 'idle' } {
  const g = s.godot!;
  const expected = g.expected_version;
  if (!known(g.live_version)) {
    if (s.state !== 'running' && s.state !== 'starting' && s.state !== 'not-answering') return { text: `godot-ai == ${expected} (not running)`, tone: 'idle' };
    return { text: `checking live version (expected godot-ai == ${expected})`, tone: 'idle' };
  }
  if (!known(expected) || g.live_version === expected) return { text: `godot-ai == ${g.live_version}`, tone: 'ok' };
  return { text: `godot-ai == ${g.live_version} (expected ${expected})`, tone: 'warn' };
}

/** The banners of one godot-ai server: its live version, its editors' plugin versions. */
export function godotBanners(s: ServerStatus): Banner[] {
  const g = s.godot;
  if (!g) return [];
  const out: Banner[] = [];
  if (known(g.live_version) && known(g.expected_version) && g.live_version !== g.expected_version) {
    out.push({
      id: `server-version:${s.name}`,
      tone: 'warn',
      text: `${s.name}: godot-ai == ${g.live_version} is running (expected ${g.expected_version}). Restart brings the pinned version back.`,
      action: { label: `Restart ${s.name}`, kind: 'restart', target: s.name },
    });
  }
  for (const e of g.editors) {
    if (!known(e.plugin_version) || !known(g.live_version) || e.plugin_version === g.live_version) continue;
    out.push({
      id: `plugin-version:${s.name}:${e.session_id}`,
      tone: 'warn',
      text: `The Godot plugin in ${projectName(e.project_path)} is ${e.plugin_version}, but ${s.name} runs godot-ai ${g.live_version}: update the plugin, or pin version = "${e.plugin_version}" for ${s.name}.`,
    });
  }
  return out;
}

export function projectName(path: string): string {
  const parts = path.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

const READINESS_WORDS: Record<string, string> = {
  ready: 'ready',
  importing: 'importing assets',
  playing: 'playing the game',
  no_scene: 'no scene open',
};

export function readinessWords(r: string): string {
  return READINESS_WORDS[r] ?? r;
}

/** The editor's link to godot-ai in words, with a live countdown while it reconnects. */
export function linkText(e: EditorSession, nowMs: number): { text: string; tone: 'ok' | 'busy' | 'bad' } {
  switch (e.upstream) {
    case 'connected':
      if (e.circuit === 'half-open') return { text: 'connected — circuit half-open (closes after 3 good messages)', tone: 'busy' };
      if (e.replays === 0) return { text: 'connected', tone: 'ok' };
      return { text: `connected — back at ${clockTime(e.upstream_since_ms).slice(0, 8)} after a godot-ai restart${e.replays > 1 ? ` (${e.replays} so far)` : ''}`, tone: 'ok' };
    case 'connecting':
      return { text: 'connecting to godot-ai…', tone: 'busy' };
    case 'circuit open': {
      const s = e.next_attempt_at_ms !== null ? secondsUntil(e.next_attempt_at_ms, nowMs) : null;
      return { text: `circuit open after ${e.circuit_failures || 5} failed attempts: paused${s !== null ? `, next try in ${s} s` : ''}`, tone: 'bad' };
    }
    default: {
      const s = e.next_attempt_at_ms !== null ? secondsUntil(e.next_attempt_at_ms, nowMs) : null;
      const attempt = e.reconnect_attempts + 1;
      return {
        text: `godot-ai is away — reconnecting: attempt ${attempt}${s !== null ? `, next try in ${s} s` : ''} (the editor stays connected)`,
        tone: 'busy',
      };
    }
  }
}
