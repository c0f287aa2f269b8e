import { describe, expect, it } from 'vitest';
import { PositionList, Ring } from './ring';

describe('ring', () => {
  it('keeps the newest items and addresses them by absolute position', () => {
    const r = new Ring<number>(3);
    for (let i = 0; i < 5; i++) expect(r.push(i * 10)).toBe(i);
    expect(r.length).toBe(3);
    expect(r.start).toBe(2);
    expect(r.get(1)).toBeUndefined();
    expect(r.get(2)).toBe(20);
    expect(r.get(4)).toBe(40);
    expect(r.get(5)).toBeUndefined();
    expect([...r]).toEqual([20, 30, 40]);
    r.clear();
    expect(r.length).toBe(0);
    expect(r.push(7)).toBe(5);
    expect([...r]).toEqual([7]);
  });
  it('holds 100 000 and wraps cheaply', () => {
    const r = new Ring<number>(100_000);
    for (let i = 0; i < 250_000; i++) r.push(i);
    expect(r.length).toBe(100_000);
    expect(r.get(150_000)).toBe(150_000);
    expect(r.get(149_999)).toBeUndefined();
  });
  it('rejects a zero capacity', () => {
    expect(() => new Ring(0)).toThrow();
  });
});

describe('position list', () => {
  it('drops from the front and compacts', () => {
    const p = new PositionList();
    for (let i = 0; i < 10_000; i++) p.push(i * 2);
    expect(p.dropBelow(11)).toBe(6);
    expect(p.at(0)).toBe(12);
    expect(p.dropBelow(15_000)).toBe(7_500 - 6);
    expect(p.length).toBe(2_500);
    expect(p.at(0)).toBe(15_000);
    expect(p.at(2_499)).toBe(19_998);
  });
});
