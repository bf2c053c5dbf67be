import { Keyv } from 'keyv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedItem } from '../../src/feeds/types';
import { DuplicateSubscriptionError, SubscriptionLimitError } from '../../src/store/errors';
import type { FeedState } from '../../src/store/feeds';
import { createKeyvKeyValueStore } from '../../src/store/key-value';
import { createStoreOver, type Store } from '../../src/store/store';
import type { NewSubscription } from '../../src/store/subscriptions';
import { storedItem } from './items';
import { createTempStores, type TempStores } from './temp-store';

const FEED = 'https://example.com/feed.xml';
const OTHER_FEED = 'https://example.org/atom.xml';
const LIMIT = { maxPerGuild: 100 };

function input(overrides: Partial<NewSubscription> = {}): NewSubscription {
  return { guildId: 'g1', channelId: 'c1', feedUrl: FEED, createdBy: 'u1', ...overrides };
}

function feedState(url: string): FeedState {
  return {
    url,
    title: 'Example',
    link: null,
    nextCheckAt: 0,
    lastCheckedAt: null,
    lastSuccessAt: null,
    consecutiveFailures: 0,
    intervalSeconds: 600,
  };
}

function item(id: string): FeedItem {
  return storedItem(id, '2024-01-01T00:00:00.000Z', { link: null });
}

let temp: TempStores;
let store: Store;
beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open(undefined, { now: () => 1_700_000_000_000 });
});
afterEach(async () => {
  await temp.cleanup();
});

describe('subscriptions.create', () => {
  it('gives a new subscription a short URL-safe id and lists it under its server and its feed', async () => {
    const sub = await store.subscriptions.create(input({ mentionRoleId: 'r1' }), LIMIT);

    expect(sub.id).toMatch(/^[0-9A-Za-z]{10}$/);
    expect(sub).toMatchObject({
      guildId: 'g1',
      channelId: 'c1',
      feedUrl: FEED,
      mentionRoleId: 'r1',
      createdBy: 'u1',
      createdAt: 1_700_000_000_000,
      postedCount: 0,
    });
    expect(await store.subscriptions.get(sub.id)).toEqual(sub);
    expect(await store.subscriptions.listByGuild('g1')).toEqual([sub]);
    expect(await store.subscriptions.listByFeed(FEED)).toEqual([sub]);
    expect(await store.feeds.listUrls()).toEqual([FEED]);
  });

  it('gives every subscription a different id', async () => {
    const subs = await Promise.all(
      Array.from({ length: 30 }, (_, n) => store.subscriptions.create(input({ channelId: `c${n}` }), LIMIT)),
    );
    expect(new Set(subs.map((s) => s.id)).size).toBe(30);
  });

  it('refuses the same feed twice in one channel, naming the existing subscription', async () => {
    const first = await store.subscriptions.create(input(), LIMIT);

    await expect(store.subscriptions.create(input({ createdBy: 'u2' }), LIMIT)).rejects.toEqual(
      expect.objectContaining({ name: 'DuplicateSubscriptionError', existingId: first.id }),
    );
    await expect(store.subscriptions.create(input(), LIMIT)).rejects.toBeInstanceOf(
      DuplicateSubscriptionError,
    );
    expect(await store.subscriptions.listByGuild('g1')).toHaveLength(1);
  });

  it('allows the same feed in another channel and in another server', async () => {
    await store.subscriptions.create(input(), LIMIT);
    await store.subscriptions.create(input({ channelId: 'c2' }), LIMIT);
    await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);

    expect(await store.subscriptions.listByFeed(FEED)).toHaveLength(3);
    expect(await store.feeds.listUrls()).toEqual([FEED]);
  });

  it('refuses a subscription once the server is at its limit, without affecting other servers', async () => {
    await store.subscriptions.create(input({ feedUrl: 'https://a.example/feed' }), { maxPerGuild: 2 });
    await store.subscriptions.create(input({ feedUrl: 'https://b.example/feed' }), { maxPerGuild: 2 });

    const third = store.subscriptions.create(input({ feedUrl: 'https://c.example/feed' }), {
      maxPerGuild: 2,
    });
    await expect(third).rejects.toBeInstanceOf(SubscriptionLimitError);
    await expect(third).rejects.toMatchObject({ guildId: 'g1', limit: 2 });
    expect(await store.subscriptions.listByGuild('g1')).toHaveLength(2);
    expect(await store.subscriptions.listByFeed('https://c.example/feed')).toEqual([]);
    expect(await store.feeds.listUrls()).not.toContain('https://c.example/feed');
    await expect(
      store.subscriptions.create(input({ guildId: 'g2', feedUrl: 'https://c.example/feed' }), {
        maxPerGuild: 2,
      }),
    ).resolves.toMatchObject({ guildId: 'g2' });
  });

  it('lets exactly one of many concurrent creates take the last slot', async () => {
    const limit = { maxPerGuild: 3 };
    await store.subscriptions.create(input({ feedUrl: 'https://a.example/feed' }), limit);
    await store.subscriptions.create(input({ feedUrl: 'https://b.example/feed' }), limit);

    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, n) =>
        store.subscriptions.create(input({ feedUrl: `https://race${n}.example/feed` }), limit),
      ),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(7);
    for (const r of rejected) expect(r.reason).toBeInstanceOf(SubscriptionLimitError);
    expect(await store.subscriptions.listByGuild('g1')).toHaveLength(3);
  });

  it('lets exactly one of two concurrent identical creates succeed', async () => {
    const results = await Promise.allSettled([
      store.subscriptions.create(input(), LIMIT),
      store.subscriptions.create(input(), LIMIT),
    ]);

    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(await store.subscriptions.listByFeed(FEED)).toHaveLength(1);
  });

  it('draws another id when the random one is already taken', async () => {
    const kv = createKeyvKeyValueStore(new Keyv({ useKeyPrefix: false, throwOnErrors: true }));
    const ids = ['AAAAAAAAAA', 'AAAAAAAAAA', 'BBBBBBBBBB'];
    const memory = createStoreOver(kv, { newSubscriptionId: () => ids.shift() ?? 'unexpected' });

    const first = await memory.subscriptions.create(input(), LIMIT);
    const second = await memory.subscriptions.create(input({ channelId: 'c2' }), LIMIT);

    expect([first.id, second.id]).toEqual(['AAAAAAAAAA', 'BBBBBBBBBB']);
    expect((await memory.subscriptions.get('AAAAAAAAAA'))?.channelId).toBe('c1');
    await memory.close();
  });
});

describe('one server never sees another server’s subscriptions', () => {
  it('getForGuild answers undefined for an id that belongs to another server', async () => {
    const theirs = await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);

    expect(await store.subscriptions.getForGuild('g1', theirs.id)).toBeUndefined();
    expect(await store.subscriptions.getForGuild('g2', theirs.id)).toEqual(theirs);
    expect(await store.subscriptions.listByGuild('g1')).toEqual([]);
  });

  it('remove with another server’s id changes nothing', async () => {
    const theirs = await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);
    await store.outbox.enqueue(theirs.id, [{ itemKey: 'g:1', payload: {} }]);

    expect(await store.subscriptions.remove('g1', theirs.id)).toBeUndefined();

    expect(await store.subscriptions.get(theirs.id)).toEqual(theirs);
    expect(await store.subscriptions.listByGuild('g2')).toEqual([theirs]);
    expect(await store.subscriptions.listByFeed(FEED)).toEqual([theirs]);
    expect(await store.outbox.list(theirs.id)).toHaveLength(1);
  });
});

describe('subscriptions.remove', () => {
  it('takes the subscription off both indexes and drops its pending deliveries', async () => {
    const kept = await store.subscriptions.create(input({ channelId: 'c2' }), LIMIT);
    const gone = await store.subscriptions.create(input(), LIMIT);
    await store.outbox.enqueue(gone.id, [{ itemKey: 'g:1', payload: {} }]);

    expect(await store.subscriptions.remove('g1', gone.id)).toEqual(gone);

    expect(await store.subscriptions.get(gone.id)).toBeUndefined();
    expect(await store.subscriptions.listByGuild('g1')).toEqual([kept]);
    expect(await store.subscriptions.listByFeed(FEED)).toEqual([kept]);
    expect(await store.outbox.list(gone.id)).toEqual([]);
    expect(await store.outbox.pendingSubscriptionIds()).not.toContain(gone.id);
  });

  it('keeps a feed’s state while other subscriptions still follow it', async () => {
    const a = await store.subscriptions.create(input(), LIMIT);
    await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);
    await store.feeds.put(feedState(FEED));
    await store.seen.add(FEED, ['g:1'], 200);

    await store.subscriptions.remove('g1', a.id);

    expect(await store.feeds.listUrls()).toEqual([FEED]);
    expect(await store.feeds.get(FEED)).toBeDefined();
    expect(await store.seen.get(FEED)).toEqual(new Set(['g:1']));
  });

  it('unschedules a feed and forgets its state, seen keys and recent items when its last subscription goes', async () => {
    const sub = await store.subscriptions.create(input(), LIMIT);
    await store.subscriptions.create(input({ feedUrl: OTHER_FEED }), LIMIT);
    await store.feeds.put(feedState(FEED));
    await store.seen.add(FEED, ['g:1'], 200);
    await store.recent.add(FEED, [item('g:1')]);

    await store.subscriptions.remove('g1', sub.id);

    expect(await store.feeds.listUrls()).toEqual([OTHER_FEED]);
    expect(await store.feeds.get(FEED)).toBeUndefined();
    expect(await store.seen.get(FEED)).toEqual(new Set());
    expect(await store.recent.get(FEED)).toEqual([]);
    expect(await store.subscriptions.listByFeed(FEED)).toEqual([]);
    // A poll that was in flight when the feed was dropped cannot bring its state back.
    expect(await store.feeds.update(FEED, (s) => ({ ...s, lastCheckedAt: 1 }))).toBeUndefined();
    expect(await store.feeds.get(FEED)).toBeUndefined();
  });

  it('frees a slot under the server limit', async () => {
    const sub = await store.subscriptions.create(input(), { maxPerGuild: 1 });
    await store.subscriptions.remove('g1', sub.id);

    await expect(
      store.subscriptions.create(input({ feedUrl: OTHER_FEED }), { maxPerGuild: 1 }),
    ).resolves.toBeDefined();
  });
});

describe('subscriptions.pauseAll', () => {
  it('pauses the active subscriptions of one channel only, and reports which', async () => {
    const first = await store.subscriptions.create(input(), LIMIT);
    const second = await store.subscriptions.create(input({ feedUrl: OTHER_FEED }), LIMIT);
    const elsewhere = await store.subscriptions.create(input({ channelId: 'c2' }), LIMIT);
    const otherServer = await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);
    await store.subscriptions.update(second.id, {
      paused: true,
      pausedReason: 'by a moderator',
      pausedAt: 1,
    });

    const paused = await store.subscriptions.pauseAll('g1', { channelId: 'c1' }, 'Missing Send Messages');

    expect(paused.map((sub) => sub.id)).toEqual([first.id]);
    expect(await store.subscriptions.get(first.id)).toMatchObject({
      paused: true,
      pausedReason: 'Missing Send Messages',
    });
    // An earlier pause keeps its own reason.
    expect(await store.subscriptions.get(second.id)).toMatchObject({ pausedReason: 'by a moderator' });
    expect((await store.subscriptions.get(elsewhere.id))?.paused).toBeUndefined();
    expect((await store.subscriptions.get(otherServer.id))?.paused).toBeUndefined();
  });

  it('pauses a whole server when no channel is given', async () => {
    await store.subscriptions.create(input(), LIMIT);
    await store.subscriptions.create(input({ channelId: 'c2' }), LIMIT);

    const paused = await store.subscriptions.pauseAll('g1', {}, 'Herald was removed from the server.');

    expect(paused).toHaveLength(2);
    expect((await store.subscriptions.listByGuild('g1')).every((sub) => sub.paused)).toBe(true);
  });
});

describe('subscriptions.update', () => {
  it('pauses with a reason and resumes clearing it', async () => {
    const sub = await store.subscriptions.create(input(), LIMIT);

    const paused = await store.subscriptions.update(sub.id, {
      paused: true,
      pausedReason: 'Herald lost access to the channel',
      pausedAt: 5,
    });
    expect(paused).toMatchObject({
      paused: true,
      pausedReason: 'Herald lost access to the channel',
      pausedAt: 5,
    });

    const resumed = await store.subscriptions.update(sub.id, { paused: false });
    expect(resumed).toEqual(sub);
    expect(await store.subscriptions.get(sub.id)).toEqual(sub);
  });

  it('removes an optional field given null', async () => {
    const sub = await store.subscriptions.create(input({ mentionRoleId: 'r1' }), LIMIT);

    const updated = await store.subscriptions.update(sub.id, { mentionRoleId: null });

    expect(updated).not.toHaveProperty('mentionRoleId');
  });

  it('counts concurrent deliveries exactly when the patch is computed from the current value', async () => {
    const sub = await store.subscriptions.create(input(), LIMIT);

    await Promise.all(
      Array.from({ length: 25 }, (_, n) =>
        store.subscriptions.update(sub.id, (current) => ({
          postedCount: current.postedCount + 1,
          lastPostAt: n,
        })),
      ),
    );

    expect((await store.subscriptions.get(sub.id))?.postedCount).toBe(25);
  });

  it('does not bring back a removed subscription', async () => {
    const sub = await store.subscriptions.create(input(), LIMIT);
    await store.subscriptions.remove('g1', sub.id);

    expect(await store.subscriptions.update(sub.id, { postedCount: 3 })).toBeUndefined();
    expect(await store.subscriptions.get(sub.id)).toBeUndefined();
  });
});

describe('subscriptions.moveFeed', () => {
  const NEW = 'https://example.com/new-feed.xml';

  it('moves every subscription, the state, seen keys and recent items to the new URL', async () => {
    const a = await store.subscriptions.create(input(), LIMIT);
    const b = await store.subscriptions.create(input({ guildId: 'g2' }), LIMIT);
    await store.feeds.put({ ...feedState(FEED), etag: '"v1"' });
    await store.seen.add(FEED, ['g:1', 'g:2'], 200);
    await store.recent.add(FEED, [item('g:1')]);

    expect(await store.subscriptions.moveFeed(FEED, NEW)).toBe(2);

    expect((await store.subscriptions.listByFeed(NEW)).map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect((await store.subscriptions.get(a.id))?.feedUrl).toBe(NEW);
    expect(await store.feeds.listUrls()).toEqual([NEW]);
    expect(await store.feeds.get(NEW)).toMatchObject({ url: NEW, etag: '"v1"' });
    expect(await store.seen.get(NEW)).toEqual(new Set(['g:1', 'g:2']));
    expect((await store.recent.get(NEW)).map((i) => i.id)).toEqual(['g:1']);
    expect(await store.feeds.get(FEED)).toBeUndefined();
    expect(await store.subscriptions.listByFeed(FEED)).toEqual([]);
  });

  it('keeps one subscription when a channel already follows the new URL', async () => {
    const old = await store.subscriptions.create(input(), LIMIT);
    const existing = await store.subscriptions.create(input({ feedUrl: NEW }), LIMIT);
    await store.seen.add(FEED, ['g:old'], 200);
    await store.seen.add(NEW, ['g:new'], 200);

    expect(await store.subscriptions.moveFeed(FEED, NEW)).toBe(0);

    expect(await store.subscriptions.listByGuild('g1')).toEqual([existing]);
    expect(await store.subscriptions.get(old.id)).toBeUndefined();
    expect(await store.seen.get(NEW)).toEqual(new Set(['g:new', 'g:old']));
    expect(await store.feeds.listUrls()).toEqual([NEW]);
  });
});
