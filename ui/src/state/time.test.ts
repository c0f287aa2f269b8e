import { describe, expect, it } from 'vitest';
import { ago, backoffText, clockTime, describeExit, failedText, formatDuration, formatUptime, msUntilNextSecond, secondsUntil } from './time';

describe('durations', () => {
  it('read like a person wrote them', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(7_200)).toBe('8 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration(3_840_000)).toBe('1 h 4 min');
    expect(formatDuration(2 * 86_400_000 + 3 * 3_600_000)).toBe('2 d 3 h');
    expect(formatDuration(-5)).toBe('0 s');
  });
  it('uptime rounds down, countdowns round up', () => {
    expect(formatUptime(1_900)).toBe('1 s');
    expect(secondsUntil(10_000, 2_001)).toBe(8);
    expect(secondsUntil(10_000, 12_000)).toBe(0);
  });
});

describe('countdowns', () => {
  it('backoff counts down by the second and never goes negative', () => {
    const next = 100_000;
    expect(backoffText(3, next, next - 8_000)).toBe('attempt 3 — next try in 8 s');
    expect(backoffText(3, next, next - 7_000)).toBe('attempt 3 — next try in 7 s');
    expect(backoffText(3, next, next - 1)).toBe('attempt 3 — next try in 1 s');
    expect(backoffText(3, next, next)).toBe('attempt 3 — retrying now…');
    expect(backoffText(3, next, next + 5_000)).toBe('attempt 3 — retrying now…');
  });
  it('failed and exit words', () => {
    expect(failedText(10, 300)).toBe('gave up after 10 crashes in 5 min');
    expect(failedText(1, 30)).toBe('gave up after 1 crash in 30 s');
    expect(describeExit(3, null)).toBe('exited with code 3');
    expect(describeExit(null, 9)).toBe('killed by signal 9 (SIGKILL)');
    expect(describeExit(null, 42)).toBe('killed by signal 42');
    expect(describeExit(null, null)).toBe('exited');
    expect(ago(1000, 1500)).toBe('just now');
    expect(ago(0, 65_000)).toBe('1 min 5 s ago');
  });
  it('clock time is local HH:MM:SS.mmm', () => {
    const d = new Date(2026, 10, 21, 9, 5, 7, 42);
    expect(clockTime(d.getTime())).toBe('09:05:07.042');
  });
});

describe('the next render', () => {
  it('comes just after the soonest on-screen number changes', () => {
    // 7 990 ms to go shows "8 s" until 7 000 are left: in 990 ms.
    expect(msUntilNextSecond([7_990], [])).toBe(995);
    // a fresh 8 s backoff changes in 1 000 ms; an uptime of 2.3 s in 700 ms: the sooner wins
    expect(msUntilNextSecond([8_000], [2_300])).toBe(705);
    expect(msUntilNextSecond([8_000, 2_120], [])).toBe(125);
    // finished countdowns and future starts are ignored; nothing on screen: the fallback tick
    expect(msUntilNextSecond([0, -40], [-10])).toBe(1_000);
    expect(msUntilNextSecond([], [])).toBe(1_000);
    // never a storm: at least 50 ms apart
    expect(msUntilNextSecond([3_001], [])).toBe(50);
  });
});
