import type { Actions, ClientSession, Health, ServerStatus, Snapshot, StateName } from '../types';

const acts = (start: boolean, stop: boolean, restart: boolean): Actions => ({ start, stop, restart });

/** What the engine's status hub publishes for each state (engine/src/status/meaning.rs): test
 * data for the dock, which renders it. A server that exited by itself passes its own. */
export const MEANING: Record<StateName, { health: Health; words: string; summary: string; actions: Actions }> = {
  running: { health: 'ok', words: 'Running', summary: 'running', actions: acts(false, true, true) },
  starting: { health: 'busy', words: 'Starting', summary: 'starting', actions: acts(false, true, true) },
  'not-answering': { health: 'down', words: 'Not answering', summary: 'not answering', actions: acts(false, true, true) },
  stopping: { health: 'busy', words: 'Stopping', summary: 'stopping', actions: acts(false, false, false) },
  backoff: { health: 'busy', words: 'Restarting', summary: 'restarting', actions: acts(false, true, true) },
  stopped: { health: 'idle', words: 'Stopped', summary: 'stopped', actions: acts(true, false, false) },
  crashed: { health: 'down', words: 'Crashed', summary: 'crashed', actions: acts(true, false, true) },
  failed: { health: 'down', words: 'Failed', summary: 'failed (gave up)', actions: acts(true, false, true) },
  'no-command': { health: 'down', words: 'Not installed', summary: 'cannot start', actions: acts(true, false, false) },
};

export function server(p: Partial<ServerStatus> & { name: string }): ServerStatus {
  return {
    ...MEANING[p.state ?? 'running'],
    state: 'running',
    since_ms: 1_000,
    pid: 100,
    started_at_ms: 1_000,
    uptime_ms: 0,
    restarts: 0,
    transport: 'stdio',
    restart_policy: 'on-failure',
    autostart: true,
    command: ['python3', 'x.py'],
    expected_version: null,
    reported_version: null,
    last_exit: null,
    ...p,
  };
}

export function client(p: Partial<ClientSession> & { id: string }): ClientSession {
  return {
    server: 'time',
    transport: 'websocket',
    peer: '127.0.0.1:50000',
    client_name: 'claude-code',
    client_version: '1.0.0',
    protocol_version: '2025-06-18',
    protocol_mismatch: false,
    connected_at_ms: 0,
    last_activity_ms: 0,
    messages_in: 0,
    messages_out: 0,
    pending: 0,
    reconnects: 0,
    ...p,
  };
}

export function snapshot(servers: ServerStatus[], p: Partial<Snapshot['bridge']> = {}): Snapshot {
  return {
    bridge: {
      version: '0.1.0',
      pid: 42,
      address: '127.0.0.1:7455',
      started_at_ms: 1_000,
      uptime_ms: 9_000,
      config_path: null,
      state_dir: '/tmp/s',
      reaped_orphans: [],
      ...p,
    },
    overview: { health: 'ok', summary: `${servers.length} servers ready` },
    servers,
    clients: [],
  };
}
