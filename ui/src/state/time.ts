// Durations and clocks as people read them. Pure: every function takes `now` explicitly.

/** "0 s", "8 s", "2 min 5 s", "2 min", "1 h 4 min", "3 d 2 h" (rounded up to whole seconds). */
export function formatDuration(ms: number): string {
  const secs = Math.max(0, Math.ceil(ms / 1000));
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) {
    const m = Math.floor(secs / 60);
    const s = secs % 60;
    return s === 0 ? `${m} min` : `${m} min ${s} s`;
  }
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
  return `${Math.floor(secs / 86400)} d ${Math.floor((secs % 86400) / 3600)} h`;
}

/** Uptime rounded down (a process up 1.9 s has been up "1 s"). */
export function formatUptime(ms: number): string {
  return formatDuration(Math.floor(Math.max(0, ms) / 1000) * 1000);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Local wall-clock time with milliseconds: "14:03:07.042". */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Whole seconds until `atMs`, never negative. */
export function secondsUntil(atMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((atMs - nowMs) / 1000));
}

/**
 * How long until the next of some on-screen clocks shows another number: countdowns with
 * `leftMs` to go (shown rounded up to whole seconds) and clocks `elapsedMs` along (shown rounded
 * down). A plain 1 s interval renders at a phase unrelated to theirs, so a number right after a
 * change (say the "8 s" of a fresh 8 s backoff) can stay up for nearly 2 s; rendering just after
 * the soonest change shows each for 1 s. At least `minMs`, at most `maxMs` (the fallback tick).
 */
export function msUntilNextSecond(leftMs: readonly number[], elapsedMs: readonly number[], minMs = 50, maxMs = 1000): number {
  let next = maxMs;
  for (const left of leftMs) if (left > 0) next = Math.min(next, left % 1000 || 1000);
  for (const up of elapsedMs) if (up >= 0) next = Math.min(next, 1000 - (up % 1000));
  // +5: land just after the change, not just before it.
  return Math.min(maxMs, Math.max(minMs, next + 5));
}

/** The backoff line: "attempt 3 — next try in 8 s" (or "… — retrying now" at zero). */
export function backoffText(attempt: number, nextAtMs: number, nowMs: number): string {
  const s = secondsUntil(nextAtMs, nowMs);
  return s > 0 ? `attempt ${attempt} — next try in ${s} s` : `attempt ${attempt} — retrying now…`;
}

/** "gave up after 10 crashes in 5 min". */
export function failedText(crashes: number, windowSecs: number): string {
  return `gave up after ${crashes} crash${crashes === 1 ? '' : 'es'} in ${formatDuration(windowSecs * 1000)}`;
}

/** "exited with code 3", "killed by signal 9 (SIGKILL)", "exited". */
export function describeExit(code: number | null | undefined, signal: number | null | undefined): string {
  if (code !== null && code !== undefined) return `exited with code ${code}`;
  if (signal !== null && signal !== undefined) {
    const names: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };
    return `killed by signal ${signal}${names[signal] ? ` (${names[signal]})` : ''}`;
  }
  return 'exited';
}

/** "just now", "12 s ago", "3 min ago". */
export function ago(atMs: number, nowMs: number): string {
  const d = nowMs - atMs;
  if (d < 1000) return 'just now';
  return `${formatUptime(d)} ago`;
}
