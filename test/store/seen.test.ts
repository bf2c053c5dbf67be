import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store';
import { createTempStores, type TempStores } from './temp-store';

const FEED = 'https://example.com/feed.xml';
const keys = (from: number, to: number) => Array.from({ length: to - from }, (_, n) => `g:${from + n}`);

let temp: TempStores;
let store: Store;
beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open();
});
afterEach(async () => {
  await temp.cleanup();
});

describe('seen', () => {
  it('remembers added keys per feed and counts only the new ones', async () => {
    expect(await store.seen.add(FEED, ['g:1', 'l:https://example.com/1'], 200)).toBe(2);
    expect(await store.seen.add(FEED, ['g:1', 'g:2', 'g:2'], 200)).toBe(1);

    expect(await store.seen.get(FEED)).toEqual(new Set(['g:1', 'l:https://example.com/1', 'g:2']));
    expect(await store.seen.get('https://other.example/feed')).toEqual(new Set());
  });

  it('keeps only the newest keys up to the capacity', async () => {
    await store.seen.add(FEED, keys(0, 200), 250);
    await store.seen.add(FEED, keys(200, 300), 250);

    const seen = await store.seen.get(FEED);
    expect(seen.size).toBe(250);
    expect(seen.has('g:49')).toBe(false);
    expect(seen.has('g:50')).toBe(true);
    expect(seen.has('g:299')).toBe(true);
  });

  it('never keeps fewer than 200 keys, whatever capacity is asked for', async () => {
    await store.seen.add(FEED, keys(0, 300), 10);

    const seen = await store.seen.get(FEED);
    expect(seen.size).toBe(200);
    expect(seen.has('g:100')).toBe(true);
    expect(seen.has('g:99')).toBe(false);
  });

  it('writes nothing when every key was already seen', async () => {
    await store.seen.add(FEED, ['g:1', 'g:2'], 200);
    const before = store.stats().writes;

    expect(await store.seen.add(FEED, ['g:2', 'g:1'], 200)).toBe(0);

    expect(store.stats().writes).toBe(before);
  });

  it('keeps every key when many adds race on one feed', async () => {
    await Promise.all(keys(0, 40).map((key) => store.seen.add(FEED, [key], 200)));

    expect((await store.seen.get(FEED)).size).toBe(40);
  });
});
