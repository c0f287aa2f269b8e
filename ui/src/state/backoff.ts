// When to try the event stream again after it dropped: 1, 2, 4, 8, 16, 30 s, then 30 s each time.

export const RECONNECT_SCHEDULE_S = [1, 2, 4, 8, 16, 30] as const;

/** Delay before reconnect attempt `attempt` (0-based: the first retry after a drop is 0). */
export function reconnectDelayMs(attempt: number): number {
  const i = Math.min(Math.max(0, Math.floor(attempt)), RECONNECT_SCHEDULE_S.length - 1);
  return RECONNECT_SCHEDULE_S[i] * 1000;
}

/** "Disconnected — reconnecting in 4 s…" / "Reconnecting…". */
export function disconnectedText(retryAtMs: number | null, nowMs: number): string {
  if (retryAtMs === null) return 'Disconnected — reconnecting…';
  const s = Math.max(0, Math.ceil((retryAtMs - nowMs) / 1000));
  return s > 0 ? `Disconnected — reconnecting in ${s} s…` : 'Disconnected — reconnecting…';
}
