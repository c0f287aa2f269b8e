import type { ClientSession, ServerStatus, Snapshot } from '../types';

export function server(p: Partial<ServerStatus> & { name: string }): ServerStatus {
  return {
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
    servers,
    clients: [],
  };
}
