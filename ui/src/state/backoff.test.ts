import { describe, expect, it } from 'vitest';
import { disconnectedText, reconnectDelayMs } from './backoff';

describe('reconnect backoff', () => {
  it('follows 1, 2, 4, 8, 16, 30 s and stays at 30 s', () => {
    const seq = Array.from({ length: 9 }, (_, i) => reconnectDelayMs(i) / 1000);
    expect(seq).toEqual([1, 2, 4, 8, 16, 30, 30, 30, 30]);
    expect(reconnectDelayMs(-1)).toBe(1000);
  });
  it('says when it will retry', () => {
    expect(disconnectedText(10_000, 6_000)).toBe('Disconnected — reconnecting in 4 s…');
    expect(disconnectedText(10_000, 10_000)).toBe('Disconnected — reconnecting…');
    expect(disconnectedText(null, 0)).toBe('Disconnected — reconnecting…');
  });
});
