import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedState } from '../../src/store/feeds';
import { NOT_IN_MEMORY } from '../../src/store/key-value';
import { feedKeyHash } from '../../src/store/keys';
import type { Store } from '../../src/store/store';
import { createTempStores, type TempStores } from './temp-store';

function feedState(url: string, overrides: Partial<FeedState> = {}): FeedState {
  return {
    url,
    title: 'Example',
    link: 'https://example.com/',
    nextCheckAt: 1_000,
    lastCheckedAt: null,
    lastSuccessAt: null,
    consecutiveFailures: 0,
    intervalSeconds: 600,
    ...overrides,
  };
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

async function subscribe(feedUrl: string, guildId = 'g1'): Promise<void> {
  await store.subscriptions.create(
    { guildId, channelId: 'c1', feedUrl, createdBy: 'u1' },
    { maxPerGuild: 1000 },
  );
}

describe('feedKeyHash', () => {
  it('is the first 16 hex digits of the URL’s SHA-256, different per URL', () => {
    // `printf %s https://example.com/feed.xml | sha256sum` → 7a775db75c1d6d17181c…
    expect(feedKeyHash('https://example.com/feed.xml')).toBe('7a775db75c1d6d17');
    expect(feedKeyHash('https://example.com/feed.xml')).not.toBe(
      feedKeyHash('https://example.com/feed.xml?x'),
    );
  });
});

describe('feeds', () => {
  it('stores a state whole and reads it back, optional fields included', async () => {
    const state = feedState('https://example.com/feed.xml', {
      etag: '"abc"',
      lastModified: 'Wed, 01 May 2024 00:00:00 GMT',
      lastStatus: 200,
      lastError: { kind: 'timeout', message: 'example.com did not answer within 15 s.' },
      newestPublished: '2024-05-01T00:00:00.000Z',
    });

    await store.feeds.put(state);

    expect(await store.feeds.get(state.url)).toEqual(state);
  });

  it('lists the state of every subscribed feed for rebuilding the schedule', async () => {
    const urls = Array.from({ length: 30 }, (_, n) => `https://host${n}.example/feed`);
    for (const url of urls) await subscribe(url);
    for (const url of urls.slice(0, 25)) await store.feeds.put(feedState(url, { nextCheckAt: 7 }));
    // A state whose feed nobody follows any more is not scheduled.
    await store.feeds.put(feedState('https://orphan.example/feed'));

    const states = await store.feeds.listAll();

    expect(states.map((s) => s.url).sort()).toEqual(urls.slice(0, 25).sort());
    expect(states.every((s) => s.nextCheckAt === 7)).toBe(true);
    expect((await store.feeds.listUrls()).sort()).toEqual([...urls].sort());
  });

  it('update changes an existing state and writes nothing when the updater returns it unchanged', async () => {
    const url = 'https://example.com/feed.xml';
    await store.feeds.put(feedState(url));

    const updated = await store.feeds.update(url, (s) => ({
      ...s,
      consecutiveFailures: s.consecutiveFailures + 1,
    }));
    expect(updated?.consecutiveFailures).toBe(1);
    expect((await store.feeds.get(url))?.consecutiveFailures).toBe(1);

    const before = store.stats().writes;
    await store.feeds.update(url, (s) => s);
    expect(store.stats().writes).toBe(before);
  });

  it('update removes an optional field the updater leaves out', async () => {
    const url = 'https://example.com/feed.xml';
    await store.feeds.put(
      feedState(url, { lastError: { kind: 'timeout', message: 'slow' }, firstFailureAt: 3 }),
    );

    await store.feeds.update(url, ({ lastError: _e, firstFailureAt: _f, ...rest }) => ({
      ...rest,
      consecutiveFailures: 0,
    }));

    const state = await store.feeds.get(url);
    expect(state).not.toHaveProperty('lastError');
    expect(state).not.toHaveProperty('firstFailureAt');
  });

  it('update does not create a state that does not exist', async () => {
    expect(await store.feeds.update('https://nowhere.example/feed', (s) => s)).toBeUndefined();
    expect(await store.feeds.get('https://nowhere.example/feed')).toBeUndefined();
  });

  it('ensure creates a state once and afterwards returns the stored one', async () => {
    const url = 'https://example.com/feed.xml';
    let built = 0;
    const init = () => {
      built++;
      return feedState(url, { title: 'First' });
    };

    const [a, b] = await Promise.all([store.feeds.ensure(url, init), store.feeds.ensure(url, init)]);
    const c = await store.feeds.ensure(url, feedState(url, { title: 'Second' }));

    expect(built).toBe(1);
    expect([a.title, b.title, c.title]).toEqual(['First', 'First', 'First']);
  });

  it('remove deletes the state', async () => {
    const url = 'https://example.com/feed.xml';
    await store.feeds.put(feedState(url));

    await store.feeds.remove(url);

    expect(await store.feeds.get(url)).toBeUndefined();
  });

  it('a recorded check shows in every read, survives a restart, and costs one small write', async () => {
    const url = 'https://example.com/feed.xml';
    await subscribe(url);
    await store.feeds.put(feedState(url, { etag: '"v1"', lastCheckedAt: 1_000, lastSuccessAt: 1_000 }));
    const before = store.stats().writes;

    const wrote = await store.feeds.recordCheck(url, {
      lastCheckedAt: 5_000,
      lastSuccessAt: 5_000,
      lastStatus: 304,
      nextCheckAt: 605_000,
      intervalSeconds: 600,
    });

    expect(wrote).toBe(true);
    expect(store.stats().writes).toBe(before + 1);
    const expected = { etag: '"v1"', lastCheckedAt: 5_000, lastStatus: 304, nextCheckAt: 605_000 };
    expect(await store.feeds.get(url)).toMatchObject(expected);
    expect(await store.feeds.listAll()).toMatchObject([expected]);
    await store.close();
    store = await temp.open();
    expect(await store.feeds.get(url)).toMatchObject(expected);
  });

  it('reads a feed’s state, subscriptions and queues from memory exactly as from the database', async () => {
    const url = 'https://example.com/feed.xml';
    await subscribe(url);
    await subscribe(url, 'g2');
    await store.feeds.put(feedState(url, { etag: '"v1"', lastCheckedAt: 1_000 }));
    await store.feeds.recordCheck(url, {
      lastCheckedAt: 5_000,
      lastSuccessAt: 5_000,
      nextCheckAt: 605_000,
      intervalSeconds: 600,
    });
    const [first, second] = await store.subscriptions.listByFeed(url);
    await store.outbox.enqueue(second!.id, [{ itemKey: 'g:1', payload: { content: 'post' } }]);

    expect(store.feeds.peek(url)).toEqual(await store.feeds.get(url));
    expect(store.feeds.peek(url)).toMatchObject({ etag: '"v1"', lastCheckedAt: 5_000, nextCheckAt: 605_000 });
    expect(store.subscriptions.peekByFeed(url)).toEqual(await store.subscriptions.listByFeed(url));
    expect(store.outbox.peekPending(first!.id)).toBe(false);
    expect(store.outbox.peekPending(second!.id)).toBe(true);
    expect(store.feeds.peek('https://example.com/other.xml')).toBeUndefined();
    expect(store.subscriptions.peekByFeed('https://example.com/other.xml')).toEqual([]);

    // After a restart every small record is loaded again, so nothing needs the database.
    await store.close();
    store = await temp.open();
    expect(store.feeds.peek(url)).toMatchObject({ lastCheckedAt: 5_000 });
    expect(store.subscriptions.peekByFeed(url)).toHaveLength(2);
    expect(store.outbox.peekPending(second!.id)).toBe(true);
    expect(store.feeds.peek(url)).not.toBe(NOT_IN_MEMORY);
  });

  it('a later full write wins over an earlier recorded check, and an update starts from the check', async () => {
    const url = 'https://example.com/feed.xml';
    await store.feeds.put(feedState(url, { lastCheckedAt: 1_000 }));
    await store.feeds.recordCheck(url, {
      lastCheckedAt: 5_000,
      lastSuccessAt: 5_000,
      nextCheckAt: 605_000,
      intervalSeconds: 600,
    });

    const seenByUpdate: Array<number | null> = [];
    await store.feeds.update(url, (current) => {
      seenByUpdate.push(current.lastCheckedAt);
      return { ...current, title: 'Renamed', lastCheckedAt: 9_000, nextCheckAt: 900_000 };
    });

    expect(seenByUpdate).toEqual([5_000]);
    expect(await store.feeds.get(url)).toMatchObject({
      title: 'Renamed',
      lastCheckedAt: 9_000,
      nextCheckAt: 900_000,
    });
  });

  it('records no check for a feed without state, and a re-created state does not inherit old checks', async () => {
    const url = 'https://example.com/feed.xml';
    const check = { lastCheckedAt: 5_000, lastSuccessAt: 5_000, nextCheckAt: 605_000, intervalSeconds: 600 };
    expect(await store.feeds.recordCheck(url, check)).toBe(false);
    expect(await store.feeds.get(url)).toBeUndefined();

    await store.feeds.put(feedState(url, { lastCheckedAt: 1_000 }));
    // A check finishing just as the feed's last subscription goes: its record may land after the state left.
    await Promise.all([store.feeds.recordCheck(url, check), store.feeds.remove(url)]);
    expect(await store.feeds.get(url)).toBeUndefined();

    const recreated = await store.feeds.ensure(url, feedState(url));
    expect(recreated.lastCheckedAt).toBeNull();
    expect(await store.feeds.get(url)).toMatchObject({ lastCheckedAt: null, nextCheckAt: 1_000 });
  });
});
