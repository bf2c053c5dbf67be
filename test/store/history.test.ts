import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedItem } from '../../src/feeds/types';
import type { Store } from '../../src/store/store';
import { storedItem } from './items';
import { createTempStores, type TempStores } from './temp-store';

const FEED = 'https://example.com/feed.xml';

function item(id: string, published: string): FeedItem {
  return storedItem(id, published, { content: [{ type: 'text', text: `Text of ${id}` }] });
}

let temp: TempStores;
let store: Store;
beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open();
});
afterEach(async () => {
  await temp.cleanup();
});

describe('feed history', () => {
  it('shows what was seen before and records a fetch’s keys and items durably in one go', async () => {
    await store.seen.add(FEED, ['g:1'], 200);
    const items = [item('g:2', '2026-11-02T00:00:00.000Z'), item('g:1', '2026-11-01T00:00:00.000Z')];

    const seenBefore = await store.history.hold(FEED, async (history) => {
      const seen = [...history.seen];
      await history.record(['g:2', 'g:1'], 200, items);
      return seen;
    });
    expect(seenBefore).toEqual(['g:1']);

    await store.close();
    const reopened = await temp.open();
    expect(await reopened.seen.get(FEED)).toEqual(new Set(['g:1', 'g:2']));
    expect((await reopened.recent.get(FEED)).map((recent) => [recent.id, recent.excerpt])).toEqual([
      ['g:2', 'Text of g:2'],
      ['g:1', 'Text of g:1'],
    ]);
  });

  it('writes nothing when a fetch brings no new keys and the same items', async () => {
    const items = [item('g:1', '2026-11-01T00:00:00.000Z')];
    await store.history.hold(FEED, (history) => history.record(['g:1'], 200, items));
    const before = store.stats();

    await store.history.hold(FEED, (history) => history.record(['g:1'], 200, items));

    expect(store.stats().writes).toBe(before.writes);
    expect(store.stats().reads).toBe(before.reads + 1);
  });

  it('makes other writers of the feed’s seen keys wait, so no key is lost to a concurrent add', async () => {
    let release!: () => void;
    const holding = store.history.hold(FEED, async (history) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      await history.record(['g:checker'], 200, []);
    });
    const added = store.seen.add(FEED, ['g:command'], 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await Promise.all([holding, added]);

    expect(await store.seen.get(FEED)).toEqual(new Set(['g:checker', 'g:command']));
  });

  it('refuses a second record in one hold instead of merging into a stale copy', async () => {
    const items = [item('g:1', '2026-11-01T00:00:00.000Z')];
    const second = store.history.hold(FEED, async (history) => {
      await history.record(['g:1'], 200, items);
      await history.record(['g:2'], 200, []);
    });

    await expect(second).rejects.toThrow(/already recorded/);
    expect(await store.seen.get(FEED)).toEqual(new Set(['g:1']));
  });
});
