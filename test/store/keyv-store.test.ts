import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keyv } from 'keyv';
import sqlite3 from 'sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SchemaMigrationError,
  SchemaVersionTooNewError,
  StoreClosedError,
  StoreOpenError,
  UnsupportedDatabaseUrlError,
} from '../../src/store/errors';
import { createKeyvKeyValueStore } from '../../src/store/key-value';
import { feedKeyHash } from '../../src/store/keys';
import { createKeyvStore, openKeyValueStore, parseDatabaseUrl } from '../../src/store/keyv-store';
import { SCHEMA_VERSION, ensureSchema } from '../../src/store/schema';
import type { FeedState } from '../../src/store/feeds';
import { storedItem } from './items';
import { createTempStores, type TempStores } from './temp-store';

function readJournalMode(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) return reject(openError);
      db.get('PRAGMA journal_mode', (error, row: { journal_mode: string } | undefined) => {
        db.close();
        if (error) reject(error);
        else resolve(row?.journal_mode ?? '');
      });
    });
  });
}

function readKeys(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) return reject(openError);
      db.all('SELECT key FROM keyv', (error, rows: Array<{ key: string }>) => {
        db.close();
        if (error) reject(error);
        else resolve(rows.map((row) => row.key));
      });
    });
  });
}

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
beforeEach(() => {
  temp = createTempStores();
});
afterEach(async () => {
  await temp.cleanup();
});

describe('createKeyvStore on SQLite', () => {
  it('keeps what was written after the store is closed and reopened', async () => {
    const first = await temp.open();
    const sub = await first.subscriptions.create(
      { guildId: 'g1', channelId: 'c1', feedUrl: 'https://example.com/feed.xml', createdBy: 'u1' },
      { maxPerGuild: 10 },
    );
    await first.feeds.put(feedState('https://example.com/feed.xml', { etag: '"v1"' }));
    await first.meta.set('commandsHash', 'abc123');
    await first.close();

    const second = await temp.open();
    expect(await second.subscriptions.listByGuild('g1')).toEqual([sub]);
    expect((await second.feeds.get('https://example.com/feed.xml'))?.etag).toBe('"v1"');
    expect(await second.meta.get('commandsHash')).toBe('abc123');
  });

  it('reads every feed state, subscription and outbox with one query at start, and seen keys and recent items only when asked', async () => {
    const first = await temp.open();
    const urls = ['https://example.com/a.xml', 'https://example.com/b.xml'];
    for (const [n, url] of urls.entries()) {
      await first.subscriptions.create(
        { guildId: 'g1', channelId: `c${n}`, feedUrl: url, createdBy: 'u1' },
        { maxPerGuild: 10 },
      );
      await first.feeds.put(feedState(url, { etag: `"v${n}"` }));
      await first.seen.add(url, [`g:${n}`], 200);
      await first.recent.add(url, [storedItem(`g:${n}`)]);
    }
    await first.close();

    const second = await temp.open();
    const afterOpen = second.stats().reads;
    for (const url of urls) {
      expect((await second.subscriptions.listByFeed(url)).map((sub) => sub.feedUrl)).toEqual([url]);
      expect((await second.feeds.get(url))?.etag).toMatch(/^"v\d"$/);
      expect(await second.outbox.list((await second.subscriptions.listByFeed(url))[0]!.id)).toEqual([]);
    }
    expect(second.stats().reads).toBe(afterOpen);

    expect(await second.seen.get(urls[0]!)).toEqual(new Set(['g:0']));
    expect((await second.recent.get(urls[1]!)).map((recent) => recent.id)).toEqual(['g:1']);
    expect(second.stats().reads).toBe(afterOpen + 2);
  });

  it('opens the SQLite file in WAL mode', async () => {
    const store = await temp.open();
    await store.meta.set('x', 1);
    await store.close();

    expect(await readJournalMode(join(temp.dir, 'herald.sqlite'))).toBe('wal');
  });

  it('stores records under the key names DESIGN.md documents', async () => {
    const store = await temp.open();
    const sub = await store.subscriptions.create(
      { guildId: 'g1', channelId: 'c1', feedUrl: 'https://example.com/feed.xml', createdBy: 'u1' },
      { maxPerGuild: 10 },
    );
    await store.outbox.enqueue(sub.id, [{ itemKey: 'g:1', payload: {} }]);
    await store.close();

    const hash = feedKeyHash('https://example.com/feed.xml');
    expect((await readKeys(join(temp.dir, 'herald.sqlite'))).sort()).toEqual(
      [
        `sub:${sub.id}`,
        'guild:g1:subs',
        `feed:${hash}:subs`,
        'feeds',
        `outbox:${sub.id}`,
        'outbox',
        'meta:schemaVersion',
      ].sort(),
    );
  });

  it('creates the missing folders of a nested path', async () => {
    const store = await temp.open('a/b/c/herald.sqlite');
    await store.meta.set('x', 1);

    expect(existsSync(join(temp.dir, 'a/b/c/herald.sqlite'))).toBe(true);
  });

  it('resolves a relative sqlite:// path against the working directory', async () => {
    const store = await createKeyvStore('sqlite://data/herald.sqlite', { cwd: temp.dir });
    await store.close();

    expect(existsSync(join(temp.dir, 'data/herald.sqlite'))).toBe(true);
    expect(parseDatabaseUrl('sqlite:///var/lib/herald.sqlite', '/somewhere')).toEqual({
      kind: 'sqlite',
      file: '/var/lib/herald.sqlite',
    });
  });

  it('stamps a fresh store with the current schema version', async () => {
    const store = await temp.open();

    expect(await store.meta.get('schemaVersion')).toBe(SCHEMA_VERSION);
  });

  it('refuses a store written by a newer Herald and tells the operator to upgrade', async () => {
    const store = await temp.open();
    await store.meta.set('schemaVersion', SCHEMA_VERSION + 1);
    await store.close();

    const reopening = createKeyvStore(temp.urlOf());
    await expect(reopening).rejects.toBeInstanceOf(SchemaVersionTooNewError);
    await expect(reopening).rejects.toThrow(/Upgrade Herald/);
  });

  it('reports a file that is not a database as a StoreOpenError naming the URL', async () => {
    writeFileSync(join(temp.dir, 'junk.sqlite'), 'this is not sqlite '.repeat(200));

    const opening = createKeyvStore(temp.urlOf('junk.sqlite'));
    await expect(opening).rejects.toBeInstanceOf(StoreOpenError);
    await expect(opening).rejects.toThrow(temp.urlOf('junk.sqlite'));
  });

  it('lets running operations finish on close, then refuses new ones', async () => {
    const store = await temp.open();
    const creating = store.subscriptions.create(
      { guildId: 'g1', channelId: 'c1', feedUrl: 'https://example.com/feed.xml', createdBy: 'u1' },
      { maxPerGuild: 10 },
    );
    await store.close();

    await expect(creating).resolves.toMatchObject({ guildId: 'g1' });
    await expect(store.subscriptions.listByGuild('g1')).rejects.toBeInstanceOf(StoreClosedError);
    const reopened = await temp.open();
    expect(await reopened.subscriptions.listByGuild('g1')).toHaveLength(1);
  });
});

describe('createKeyvStore with other URLs', () => {
  it.each(['redis://localhost:6379', 'postgres://db/herald', 'mysql://db/herald', 'sqlite://'])(
    'refuses %s and names the supported schemes',
    async (url) => {
      const opening = createKeyvStore(url);
      await expect(opening).rejects.toBeInstanceOf(UnsupportedDatabaseUrlError);
      await expect(opening).rejects.toThrow(/sqlite:\/\/.*memory:\/\/.*@keyv\/redis or @keyv\/postgres/);
    },
  );

  it('keeps memory:// data only for the life of the store', async () => {
    const first = await createKeyvStore('memory://');
    await first.meta.set('x', 1);
    expect(await first.meta.get('x')).toBe(1);
    await first.close();

    const second = await createKeyvStore('memory://');
    expect(await second.meta.get('x')).toBeUndefined();
    await second.close();
  });
});

describe('store.stats', () => {
  it('costs one write for a feed check that finds nothing new', async () => {
    const store = await temp.open();
    const url = 'https://example.com/feed.xml';
    const items = [storedItem('a', '2024-05-02T00:00:00.000Z'), storedItem('b', '2024-05-01T00:00:00.000Z')];
    await store.feeds.put(feedState(url));
    await store.seen.add(url, ['a', 'b'], 200);
    await store.recent.add(url, items);
    const before = store.stats();

    // What the poller does for an unchanged feed: record the check, offer the same items again.
    await store.feeds.update(url, (state) => ({ ...state, lastCheckedAt: 2_000, nextCheckAt: 602_000 }));
    expect(await store.seen.add(url, ['a', 'b'], 200)).toBe(0);
    await store.recent.add(url, items);

    const after = store.stats();
    expect(after.writes - before.writes).toBe(1);
    expect(after.reads).toBeGreaterThan(before.reads);
  });
});

describe('ensureSchema', () => {
  it('runs the missing migrations in order and records the new version', async () => {
    const kv = createKeyvKeyValueStore(new Keyv({ useKeyPrefix: false, throwOnErrors: true }));
    await kv.set('meta:schemaVersion', 1);
    const ran: number[] = [];

    const version = await ensureSchema(kv, {
      targetVersion: 3,
      migrations: {
        2: async () => {
          ran.push(2);
          await kv.set('meta:migrated', 2);
        },
        3: () => {
          ran.push(3);
          return Promise.resolve();
        },
      },
    });

    expect(version).toBe(3);
    expect(ran).toEqual([2, 3]);
    expect(await kv.get('meta:schemaVersion')).toBe(3);
    expect(await kv.get('meta:migrated')).toBe(2);
  });

  it('stops at a failing step and keeps the version of the last step that completed', async () => {
    const kv = createKeyvKeyValueStore(new Keyv({ useKeyPrefix: false, throwOnErrors: true }));
    await kv.set('meta:schemaVersion', 1);

    const upgrading = ensureSchema(kv, {
      targetVersion: 3,
      migrations: { 2: () => Promise.resolve(), 3: () => Promise.reject(new Error('disk full')) },
    });

    await expect(upgrading).rejects.toBeInstanceOf(SchemaMigrationError);
    await expect(upgrading).rejects.toMatchObject({
      fromVersion: 2,
      toVersion: 3,
      cause: { message: 'disk full' },
    });
    expect(await kv.get('meta:schemaVersion')).toBe(2);
  });
});

describe('key-value getMany', () => {
  it('returns values lined up with their keys across batches, with gaps for missing keys', async () => {
    const { kv } = await openKeyValueStore(temp.urlOf('kv.sqlite'));
    const keys = Array.from({ length: 1_234 }, (_, n) => `k:${n}`);
    await Promise.all(
      keys.filter((_, n) => n % 3 === 0).map((key) => kv.set(key, { n: Number(key.slice(2)) })),
    );

    const values = await kv.getMany<{ n: number }>(keys);

    expect(values).toHaveLength(keys.length);
    values.forEach((value, n) => expect(value).toEqual(n % 3 === 0 ? { n } : undefined));
    await kv.close();
  });
});
