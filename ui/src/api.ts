// Where the engine is and how to talk to it. In a browser the dock is served by bridgedockd
// itself (base = location.origin, token from the URL fragment); inside the desktop app the
// Tauri command `dock_endpoint` says both. Nothing is hard-coded.

import type { ServerStatus, Snapshot } from './types';

export interface Endpoint {
  api: string; // "http://127.0.0.1:7455"
  token: string | null;
  desktop: boolean;
}

const TOKEN_KEY = 'bridgedock.token';

interface TauriGlobal {
  core?: { invoke?: (cmd: string, args?: unknown) => Promise<unknown> };
}

/** Reads `#token=…` (remembering it for this tab) and removes it from the visible URL. */
export function tokenFromLocation(loc: Location, storage: Storage | null, history: History | null): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(loc.hash);
  if (m) {
    const token = decodeURIComponent(m[1]);
    try {
      storage?.setItem(TOKEN_KEY, token);
    } catch {
      /* storage may be disabled */
    }
    const rest = loc.hash.replace(/(^#|&)token=[^&]*/, '$1').replace(/^#&/, '#');
    history?.replaceState(history.state, '', loc.pathname + loc.search + (rest === '#' ? '' : rest));
    return token;
  }
  try {
    return storage?.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null;
  }
}

export async function resolveEndpoint(): Promise<Endpoint> {
  const tauri = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;
  if (tauri?.core?.invoke) {
    const ep = (await tauri.core.invoke('dock_endpoint')) as { api: string; token: string };
    return { api: ep.api.replace(/\/+$/, ''), token: ep.token, desktop: true };
  }
  let storage: Storage | null = null;
  try {
    storage = window.sessionStorage;
  } catch {
    storage = null;
  }
  return { api: location.origin, token: tokenFromLocation(location, storage, window.history), desktop: false };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(readonly ep: Endpoint) {}

  private async call<T>(method: string, path: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.ep.token) headers.Authorization = `Bearer ${this.ep.token}`;
    let res: Response;
    try {
      res = await fetch(this.ep.api + path, { method, headers });
    } catch {
      throw new ApiError(0, 'bridgedock is not reachable');
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `${res.status} ${res.statusText}`);
    return body as T;
  }

  status(): Promise<Snapshot> {
    return this.call('GET', '/api/status');
  }

  async action(name: string, action: 'start' | 'stop' | 'restart'): Promise<ServerStatus> {
    const r = await this.call<{ server: ServerStatus }>('POST', `/api/servers/${encodeURIComponent(name)}/${action}`);
    return r.server;
  }

  restartAll(): Promise<unknown> {
    return this.call('POST', '/api/restart-all');
  }

  eventsUrl(since: number | null): string {
    const u = new URL(this.ep.api.replace(/^http/, 'ws') + '/api/events');
    if (this.ep.token) u.searchParams.set('token', this.ep.token);
    if (since !== null && since > 0) u.searchParams.set('since', String(since));
    return u.toString();
  }

  /** The dock's own address, without the token (safe to paste in a chat). */
  dockUrl(): string {
    return this.ep.api + '/';
  }
}
