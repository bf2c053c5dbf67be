import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedItem } from '../../src/feeds/types';
import type { Store } from '../../src/store/store';
import { createTempStores, type TempStores } from './temp-store';

const FEED = 'https://example.com/feed.xml';

function item(id: string, published: string | null, title = id): FeedItem {
  return {
    id,
    keys: [id],
    guid: id,
    title,
    link: `https://example.com/${id}`,
    published,
    author: null,
    categories: [],
    summary: null,
    image: null,
  };
}

const day = (n: number) => new Date(Date.UTC(2024, 0, 1 + n)).toISOString();

let temp: TempStores;
let store: Store;
beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open();
});
afterEach(async () => {
  await temp.cleanup();
});

describe('recent', () => {
  it('orders items newest first, undated after dated, undated in document order', async () => {
    await store.recent.add(FEED, [
      item('u1', null),
      item('old', day(1)),
      item('u2', null),
      item('new', day(5)),
      item('mid', day(3)),
    ]);

    expect((await store.recent.get(FEED)).map((i) => i.id)).toEqual(['new', 'mid', 'old', 'u1', 'u2']);
  });

  it('keeps one copy per id, the latest fetch’s version winning', async () => {
    await store.recent.add(FEED, [item('a', day(1), 'Old title'), item('b', day(2))]);
    await store.recent.add(FEED, [item('a', day(1), 'Fixed title'), item('c', day(3))]);

    const items = await store.recent.get(FEED);
    expect(items.map((i) => i.id)).toEqual(['c', 'b', 'a']);
    expect(items.find((i) => i.id === 'a')?.title).toBe('Fixed title');
  });

  it('keeps only the 50 newest items', async () => {
    await store.recent.add(
      FEED,
      Array.from({ length: 40 }, (_, n) => item(`a${n}`, day(n))),
    );
    await store.recent.add(
      FEED,
      Array.from({ length: 30 }, (_, n) => item(`b${n}`, day(100 + n))),
    );

    const items = await store.recent.get(FEED);
    expect(items).toHaveLength(50);
    expect(items[0]?.id).toBe('b29');
    expect(items.at(-1)?.id).toBe('a20');
  });

  it('stores items exactly as given and keeps feeds apart', async () => {
    const tricky = { ...item('x', day(1), ':colon-led title'), categories: ['a', 'b'], summary: '**bold**' };
    await store.recent.add(FEED, [tricky]);

    expect(await store.recent.get(FEED)).toEqual([tricky]);
    expect(await store.recent.get('https://other.example/feed')).toEqual([]);
  });

  it('writes nothing when a fetch brings the same items again', async () => {
    const items = [item('a', day(2)), item('b', day(1))];
    await store.recent.add(FEED, items);
    const before = store.stats().writes;

    await store.recent.add(
      FEED,
      items.map((i) => ({ ...i })),
    );

    expect(store.stats().writes).toBe(before);
  });
});
