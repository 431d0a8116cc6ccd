import { describe, expect, it } from 'vitest';
import { ScratchPool } from './scratch.js';

describe('ScratchPool', () => {
  it('hands out the same memory for a name, grown when asked for more, separate per name', () => {
    const pool = new ScratchPool();
    const a = pool.f32('a', 10);
    a.fill(7);
    const again = pool.f32('a', 6);
    expect(again.length).toBe(6);
    expect(again.buffer).toBe(a.buffer); // reused, stale contents
    expect(Array.from(again)).toEqual(new Array(6).fill(7));
    const b = pool.f32('b', 10);
    expect(b.buffer).not.toBe(a.buffer);
    const bigger = pool.f32('a', 11);
    expect(bigger.buffer).not.toBe(a.buffer);
    expect(bigger.length).toBe(11);
    expect(pool.f32('a', 11).buffer).toBe(bigger.buffer);
  });
});
