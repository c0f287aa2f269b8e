// Version-mismatch banners. One generic rule — a subject reports `actual` where `expected` was
// configured — used for servers (serverInfo.version vs config), clients (MCP protocol) and,
// later, editor plugins (plugin version vs its server's). An unknown (null/empty) version
// never raises a banner.

import type { ClientSession, ServerStatus } from '../types';
import { godotBanners } from './godot';

export interface BannerAction {
  label: string; // "Restart time"
  kind: 'restart' | 'start' | 'open';
  target: string; // server name, or a URL for "open"
}

export interface Banner {
  id: string;
  tone: 'warn' | 'bad';
  text: string;
  action?: BannerAction;
}

export interface VersionCheck {
  id: string;
  subject: string; // "time", "VS Code plugin 1.2"
  actual: string | null | undefined;
  expected: string | null | undefined;
  action?: BannerAction;
  /** Words for the finding; default "SUBJECT reports ACTUAL (expected EXPECTED)". */
  describe?: (actual: string, expected: string) => string;
}

const known = (v: string | null | undefined): v is string => typeof v === 'string' && v.trim() !== '';

/** A banner when both versions are known and differ; otherwise null. */
export function versionBanner(c: VersionCheck): Banner | null {
  if (!known(c.actual) || !known(c.expected)) return null;
  if (c.actual.trim() === c.expected.trim()) return null;
  return {
    id: c.id,
    tone: 'warn',
    text: c.describe ? c.describe(c.actual, c.expected) : `${c.subject} reports ${c.actual} (expected ${c.expected})`,
    action: c.action,
  };
}

export function serverBanner(s: ServerStatus): Banner | null {
  return versionBanner({
    id: `server-version:${s.name}`,
    subject: s.name,
    actual: s.reported_version,
    expected: s.expected_version,
    action: { label: `Restart ${s.name}`, kind: 'restart', target: s.name },
  });
}

/** A client the bridge flagged as speaking another MCP protocol version than its server. */
export function clientBanner(c: ClientSession): Banner | null {
  if (!c.protocol_mismatch || !known(c.protocol_version)) return null;
  const who = known(c.client_name) ? `${c.client_name}${known(c.client_version) ? ' ' + c.client_version : ''}` : `A client (${c.peer})`;
  return {
    id: `client-protocol:${c.id}`,
    tone: 'warn',
    text: `${who} speaks MCP protocol ${c.protocol_version}, which ${c.server} does not — update the client or the server`,
  };
}

/** Editor plugin vs its server (for when plugins report their versions). */
export function pluginBanner(p: { plugin: string; pluginVersion: string | null; server: string; serverVersion: string | null }): Banner | null {
  return versionBanner({
    id: `plugin-version:${p.plugin}:${p.server}`,
    subject: p.plugin,
    actual: p.pluginVersion,
    expected: p.serverVersion,
    describe: (a, e) => `${p.plugin} ${a} expects a different ${p.server} (server is ${e})`,
    action: { label: `Restart ${p.server}`, kind: 'restart', target: p.server },
  });
}

export function allBanners(servers: readonly ServerStatus[], clients: readonly ClientSession[]): Banner[] {
  const out: Banner[] = [];
  for (const s of servers) {
    if (s.godot) {
      out.push(...godotBanners(s));
      continue;
    }
    const b = serverBanner(s);
    if (b) out.push(b);
  }
  for (const c of clients) {
    const b = clientBanner(c);
    if (b) out.push(b);
  }
  return out;
}
