// The engine's API model (see README "HTTP/WebSocket API" and engine/src/status/model.rs).
// Times are unix epoch milliseconds.

export type StateName =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'not-answering'
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

/** What a state means, decided by the engine (engine/src/status/meaning.rs): every face renders
 * these and decides nothing. */
export type Health = 'ok' | 'busy' | 'down' | 'idle';

export interface Actions {
  start: boolean;
  stop: boolean;
  restart: boolean;
}

/** Everything at a glance: "3 servers ready", "2 ready · 1 restarting". */
export interface Overview {
  health: Health;
  summary: string;
}

export interface ServerStatus {
  name: string;
  state: StateName;
  /** Its look, badge ("Running", "Restarting", "Exited"), clock-free line and possible actions. */
  health: Health;
  words: string;
  summary: string;
  actions: Actions;
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
  /** The MCP revision bridgedock speaks with the server ("2025-11-25", "2026-07-28"), once its
   * process has answered the handshake. */
  protocol_revision?: string | null;
  /** The client capabilities bridgedock declared to a handshake-era server on behalf of all its
   * clients; null for a 2026-07-28 server, which is sent each client's own with each request. */
  declared_capabilities?: Capabilities | null;
  /** The capabilities the server declared in its handshake. */
  server_capabilities?: Capabilities | null;
  last_exit: ExitInfo | null;
  // state-specific fields
  since_ms?: number;
  /** starting, not-answering: its newest stderr line (npx/uvx download progress, say). */
  last_line?: string;
  /** not-answering: why, in words ("its process (pid 42) has not answered …"). */
  reason?: string;
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
  // kind = "godot-ai" only
  godot?: GodotStatus;
}

/** MCP capabilities as declared: `{"roots": {"listChanged": true}, "elicitation": {"form": {}}}`. */
export type Capabilities = Record<string, unknown>;

/** A godot-ai server's editor side (engine/src/status/model.rs GodotStatus). */
export interface GodotStatus {
  http_port: number;
  ws_port: number;
  backend_http_port: number;
  backend_ws_port: number;
  listening: boolean;
  expected_version: string;
  live_version: string | null;
  instance_id: string | null;
  record_path: string;
  editors: EditorSession[];
  circuit: 'closed' | 'open' | 'half-open';
  circuit_failures: number;
  diagnoses: Diagnosis[];
  adopted_port?: number | null;
  adopted_version?: string | null;
}

export type Readiness = 'ready' | 'importing' | 'playing' | 'no_scene' | string;

export interface EditorSession {
  session_id: string;
  project_path: string;
  godot_version: string;
  plugin_version: string;
  editor_pid: number;
  readiness: Readiness;
  current_scene: string | null;
  play_state: string | null;
  connected_at_ms: number;
  upstream: 'connecting' | 'connected' | 'reconnecting' | 'circuit open' | string;
  upstream_since_ms: number;
  circuit: 'closed' | 'open' | 'half-open';
  circuit_failures: number;
  reconnect_attempts: number;
  next_attempt_at_ms: number | null;
  replays: number;
  commands_in_flight: number;
  commands_done: number;
  last_command: string | null;
  last_latency_ms: number | null;
  last_message_ms: number;
}

export interface Diagnosis {
  code: string;
  message: string;
  hint: string;
  at_ms: number;
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
  overview: Overview;
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
  /** `overview` is everything at a glance after the change (absent when the dock applies the
   * answer to its own action: the event that follows brings it). */
  | { type: 'server'; server: ServerStatus; overview?: Overview }
  | { type: 'bridge'; bridge: BridgeStatus }
  | { type: 'client'; client: ClientSession }
  | { type: 'client-gone'; id: string; server: string }
  | { type: 'log'; line: LogLine }
  | { type: 'missed'; count: number };
