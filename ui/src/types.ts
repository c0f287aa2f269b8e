// The engine's API model (see README "HTTP/WebSocket API" and engine/src/status/model.rs).
// Times are unix epoch milliseconds.

export type StateName =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'stopping'
  | 'backoff'
  | 'crashed'
  | 'failed'
  | 'no-command';

export interface ExitInfo {
  at_ms: number;
  code: number | null;
  signal: number | null;
  reason: string;
  requested: boolean;
  last_stderr: string[];
}

export interface ServerStatus {
  name: string;
  state: StateName;
  pid: number | null;
  started_at_ms: number | null;
  uptime_ms: number | null;
  restarts: number;
  transport: string;
  restart_policy: string;
  autostart: boolean;
  command: string[];
  expected_version: string | null;
  reported_version: string | null;
  last_exit: ExitInfo | null;
  // state-specific fields
  since_ms?: number;
  attempt?: number;
  next_at_ms?: number;
  delay_ms?: number;
  code?: number | null;
  signal?: number | null;
  last_stderr?: string[];
  crashes?: number;
  window_secs?: number;
  hint?: string;
  // no-command: the program that is missing from PATH
  program?: string;
}

export interface ReapedOrphan {
  server: string;
  pid: number;
  processes: number;
  command: string;
  at_ms: number;
}

export interface BridgeStatus {
  version: string;
  pid: number;
  address: string;
  started_at_ms: number;
  uptime_ms: number;
  config_path: string | null;
  state_dir: string;
  reaped_orphans: ReapedOrphan[];
}

export interface ClientSession {
  id: string;
  server: string;
  transport: 'websocket' | 'http' | string;
  peer: string;
  client_name: string | null;
  client_version: string | null;
  protocol_version: string | null;
  protocol_mismatch: boolean;
  connected_at_ms: number;
  last_activity_ms: number;
  messages_in: number;
  messages_out: number;
  pending: number;
  reconnects: number;
}

export interface Snapshot {
  bridge: BridgeStatus;
  servers: ServerStatus[];
  clients: ClientSession[];
}

export type Stream = 'stdout' | 'stderr' | 'bridge';
export type Level = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LogLine {
  seq: number;
  time_ms: number;
  server: string;
  stream: Stream;
  level: Level | null;
  text: string;
}

export type DockEvent =
  | { type: 'snapshot'; status: Snapshot; log_seq: number }
  | { type: 'logs'; lines: LogLine[] }
  | { type: 'server'; server: ServerStatus }
  | { type: 'bridge'; bridge: BridgeStatus }
  | { type: 'client'; client: ClientSession }
  | { type: 'client-gone'; id: string; server: string }
  | { type: 'log'; line: LogLine }
  | { type: 'missed'; count: number };
