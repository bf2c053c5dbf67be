import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedItem } from '../../src/feeds/types';
import type { KeyValueStore } from '../../src/store/key-value';
import { storeKeys } from '../../src/store/keys';
import { createRecentItemsRepository, RECENT_EXCERPT_CHARS } from '../../src/store/recent';
import type { Store } from '../../src/store/store';
import { storedItem } from './items';
import { createTempStores, type TempStores } from './temp-store';

const FEED = 'https://example.com/feed.xml';

function item(id: string, published: string | null, title = id): FeedItem {
  return storedItem(id, published, { title });
}

/** What `/posts` gets back for an item: the fields it shows and the excerpt it searches. */
function shown({ id, title, link, published }: FeedItem, excerpt = '') {
  return { id, title, link, published, excerpt };
}

/** A key-value store in memory, holding what `data` says is already stored. */
function memoryKv(data: Map<string, unknown>): Pick<KeyValueStore, 'get' | 'update'> {
  return {
    get: <T>(key: string) => Promise.resolve(structuredClone(data.get(key)) as T | undefined),
    update: <T>(key: string, fn: (current: T | undefined) => T | undefined) => {
      const next = fn(structuredClone(data.get(key)) as T | undefined);
      if (next === undefined) data.delete(key);
      else data.set(key, structuredClone(next));
      return Promise.resolve(next);
    },
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

  it('keeps what /posts shows and the start of the text as plain text, and keeps feeds apart', async () => {
    const article = `<p>Caf<b>é</b> &amp; <a href="/x">cr&egrave;me</a><br>br&ucirc;l&#233;e</p><script>var hidden;</script>${'<p>More words here.</p>'.repeat(1000)}`;
    const tricky = {
      ...item('x', day(1), ':colon-led title'),
      categories: ['a', 'b'],
      content: [{ text: article, type: 'html' as const }],
    };
    await store.recent.add(FEED, [tricky]);

    const [stored] = await store.recent.get(FEED);
    const excerpt = stored?.excerpt ?? '';
    expect(stored).toEqual(shown(tricky, excerpt));
    // The text's start, cut between words.
    const text = `Café & crème brûlée ${'More words here. '.repeat(1000)}`;
    expect(excerpt.length).toBeGreaterThan(RECENT_EXCERPT_CHARS - 20);
    expect(excerpt.length).toBeLessThanOrEqual(RECENT_EXCERPT_CHARS);
    expect(text.startsWith(excerpt)).toBe(true);
    expect(text.charAt(excerpt.length)).toBe(' ');
    expect(await store.recent.get('https://other.example/feed')).toEqual([]);
  });

  it('takes the excerpt from the first text that has any, as the summary does', async () => {
    const teaserless = {
      ...item('a', day(1)),
      content: [
        { text: '<p><img src="cover.png"></p>', type: 'html' as const },
        { text: 'The   full\n\ntext <b>as written</b>', type: 'text' as const },
      ],
    };
    await store.recent.add(FEED, [teaserless, item('b', day(2))]);

    expect(await store.recent.get(FEED)).toEqual([
      shown(item('b', day(2))),
      shown(teaserless, 'The full text <b>as written</b>'),
    ]);
  });

  it('reads lists stored by earlier versions, which kept whole items with their summary', async () => {
    const { id, keys, guid, title, link, published, author, categories, image } = item('old', day(1));
    // Whole items as they used to be stored: with a markdown summary instead of their text.
    const legacy = {
      id,
      keys,
      guid,
      title,
      link,
      published,
      author,
      categories,
      summary: 'An **old** post about *café*',
      image,
    };
    const data = new Map<string, unknown>([[storeKeys.recent(FEED), [legacy]]]);
    const recent = createRecentItemsRepository(memoryKv(data));

    expect(await recent.get(FEED)).toEqual([shown(item('old', day(1)), 'An **old** post about *café*')]);
    await recent.add(FEED, [item('new', day(2))]);
    expect(data.get(storeKeys.recent(FEED))).toEqual([
      shown(item('new', day(2))),
      shown(item('old', day(1)), 'An **old** post about *café*'),
    ]);
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
