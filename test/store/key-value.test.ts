import { join } from 'node:path';
import KeyvSqlite from '@keyv/sqlite';
import { defaultSerialize } from '@keyv/serialize';
import { Keyv } from 'keyv';
import sqlite3 from 'sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../src/store/codec';
import { createKeyvKeyValueStore, NOT_IN_MEMORY } from '../../src/store/key-value';
import { openKeyValueStore } from '../../src/store/keyv-store';
import { createTempStores, type TempStores } from './temp-store';

let temp: TempStores;
beforeEach(() => {
  temp = createTempStores();
});
afterEach(async () => {
  await temp.cleanup();
});

/** Runs one statement on a second connection to the file, as another process would. */
function onSecondConnection<T>(file: string, sql: string, ...params: unknown[]): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (openError) => {
      if (openError) return reject(openError);
      db.all(sql, params, (error, rows: T[]) => {
        db.close();
        if (error) reject(error);
        else resolve(rows);
      });
    });
  });
}

const VALUES: unknown[] = [
  { url: 'https://example.com/feed.xml', title: 'Café ☕ "quoted"', n: 3, ok: true, none: null },
  { title: ':wave: hello', tags: [':a', 'b', ':'], nested: { deep: [':x', { y: ':z' }] } },
  { 'key:': 'a key ending in a colon', 'x,': [1, ':'], '[': ':' },
  [':leading', 'plain', null, undefined, 1.5],
  ':just a string',
  'plain string',
  42,
  null,
  { skipped: undefined, kept: 'yes' },
  { date: new Date(Date.UTC(2026, 10, 22)) },
];

describe('the store codec', () => {
  it.each(VALUES.map((value) => [JSON.stringify(value) ?? String(value), value]))(
    'writes %s exactly as Keyv’s default serializer does, and reads it back',
    (_name, value) => {
      const row = { value, expires: undefined };
      expect(`{"value":${encodeValue(value)}}`).toBe(defaultSerialize(row));
      expect(decodeValue(encodeValue(value))).toEqual(JSON.parse(JSON.stringify(value) ?? 'null'));
    },
  );

  it('reads rows an earlier Herald wrote with Keyv’s default serializer, and they read ours', async () => {
    const file = join(temp.dir, 'compat.sqlite');
    const legacy = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), useKeyPrefix: false });
    await legacy.set('sub:a', { title: ':tada: launch', channels: [':x'] });
    await legacy.disconnect();

    const { kv } = await openKeyValueStore(`sqlite://${file}`);
    expect(await kv.get('sub:a')).toEqual({ title: ':tada: launch', channels: [':x'] });
    await kv.set('sub:b', { title: ':wave:', n: 1 });
    await kv.close();

    const again = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), useKeyPrefix: false });
    expect(await again.get('sub:b')).toEqual({ title: ':wave:', n: 1 });
    await again.disconnect();
  });
});

describe('writes', () => {
  it('commits writes made at the same moment together, each durable once its set resolves', async () => {
    const file = join(temp.dir, 'batch.sqlite');
    const { kv } = await openKeyValueStore(`sqlite://${file}`);
    const before = kv.stats();

    await Promise.all(Array.from({ length: 1_000 }, (_, n) => kv.set(`feed:${n}`, { n })));

    const after = kv.stats();
    expect(after.writes - before.writes).toBe(1_000);
    expect(after.commits - before.commits).toBeLessThanOrEqual(2);
    const rows = await onSecondConnection<{ n: number }>(
      file,
      'SELECT count(*) AS n FROM keyv WHERE key LIKE ?',
      'feed:%',
    );
    expect(rows[0]?.n).toBe(1_000);
    await kv.close();
  });

  it('has a value on disk by the time set resolves, for a write on its own', async () => {
    const file = join(temp.dir, 'single.sqlite');
    const { kv } = await openKeyValueStore(`sqlite://${file}`);

    await kv.set('outbox:s1', [{ itemKey: 'g:1' }]);

    const rows = await onSecondConnection<{ value: string }>(
      file,
      'SELECT value FROM keyv WHERE key = ?',
      'outbox:s1',
    );
    expect(JSON.parse(rows[0]?.value ?? 'null')).toEqual({ value: [{ itemKey: 'g:1' }] });
    await kv.close();
  });

  it('keeps later writes to a key in order, the last one winning', async () => {
    const file = join(temp.dir, 'order.sqlite');
    const { kv } = await openKeyValueStore(`sqlite://${file}`);
    const writes = [
      kv.set('seen:a', [1]),
      kv.set('seen:a', [1, 2]),
      kv.delete('seen:b'),
      kv.set('seen:a', [1, 2, 3]),
    ];
    await Promise.all(writes);
    await kv.delete('seen:a');
    await kv.set('seen:a', ['again']);
    await kv.close();

    const reopened = await openKeyValueStore(`sqlite://${file}`);
    expect(await reopened.kv.get('seen:a')).toEqual(['again']);
    await reopened.kv.close();
  });

  it('commits a key written again behind the keys written before, so a crash part-way keeps the write order', async () => {
    // A Keyv backend that records the order of the rows of each commit (what the upserts write).
    const rows = new Map<string, unknown>();
    const committed: string[] = [];
    const backend = Object.assign(rows, {
      setMany(entries: Array<{ key: string; value: unknown }>) {
        for (const { key, value } of entries) {
          committed.push(key);
          rows.set(key, value);
        }
        return Promise.resolve();
      },
    });
    const kv = createKeyvKeyValueStore(
      new Keyv({ store: backend, useKeyPrefix: false, throwOnErrors: true }),
    );

    await Promise.all([
      kv.set('feed:a', { bodyHash: 'old' }),
      kv.set('outbox:s1', [{ itemKey: 'g:2' }]),
      kv.set('seen:a', ['g:1', 'g:2']),
      kv.set('feed:a', { bodyHash: 'new' }),
    ]);

    expect(committed).toEqual(['outbox:s1', 'seen:a', 'feed:a']);
    expect(await kv.get('feed:a')).toEqual({ bodyHash: 'new' });
    await kv.close();
  });

  it('reads a write back before it is committed, for records kept in memory and for the others', async () => {
    const { kv } = await openKeyValueStore(temp.urlOf('pending.sqlite'));
    const writes = [kv.set('seen:feed', ['k1']), kv.set('feed:abc', { url: 'u' }), kv.delete('recent:feed')];

    expect(await kv.get('seen:feed')).toEqual(['k1']);
    expect(await kv.get('feed:abc')).toEqual({ url: 'u' });
    expect(await kv.get('recent:feed')).toBeUndefined();
    await Promise.all(writes);
    await kv.close();
  });

  it('stores a copy: changing an object after set changes neither what is read nor what is stored', async () => {
    const file = join(temp.dir, 'copy.sqlite');
    const { kv } = await openKeyValueStore(`sqlite://${file}`);
    const state = { url: 'u', title: 'Before' };
    const written = kv.set('feed:abc', state);
    state.title = 'After';
    await written;

    expect(await kv.get('feed:abc')).toEqual({ url: 'u', title: 'Before' });
    await kv.close();
    const reopened = await openKeyValueStore(`sqlite://${file}`);
    expect(await reopened.kv.get('feed:abc')).toEqual({ url: 'u', title: 'Before' });
    await reopened.kv.close();
  });

  it('rejects every write of a commit the database refuses, and does not read the refused values back', async () => {
    const file = join(temp.dir, 'refused.sqlite');
    const { kv } = await openKeyValueStore(`sqlite://${file}`);
    await kv.set('feed:ok', { v: 1 });
    await onSecondConnection(
      file,
      `CREATE TRIGGER refuse BEFORE INSERT ON keyv WHEN NEW.key = 'feed:bad' BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
    );

    const results = await Promise.allSettled([kv.set('feed:ok', { v: 2 }), kv.set('feed:bad', { v: 1 })]);

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(await kv.get('feed:ok')).toEqual({ v: 1 });
    expect(await kv.get('feed:bad')).toBeUndefined();
    await kv.set('feed:ok', { v: 3 });
    expect(await kv.get('feed:ok')).toEqual({ v: 3 });
    await kv.close();
  });
});

describe('reads', () => {
  it('answers repeated reads of a small record from memory, frozen so no reader can change it for the others', async () => {
    const { kv } = await openKeyValueStore(temp.urlOf('cache.sqlite'));
    const written = { id: 's1', paused: false, tags: ['a'] };
    await kv.set('sub:s1', written);
    written.paused = true; // the writer keeps its object: the store took a copy
    const before = kv.stats().reads;

    const first = await kv.get<{ id: string; paused: boolean; tags: string[] }>('sub:s1');
    expect(() => {
      if (first) first.paused = true;
    }).toThrow(TypeError);
    expect(() => first?.tags.push('b')).toThrow(TypeError);
    const second = await kv.get<{ id: string; paused: boolean; tags: string[] }>('sub:s1');

    expect(second).toEqual({ id: 's1', paused: false, tags: ['a'] });
    expect(kv.stats().reads).toBe(before);
    await kv.close();
  });

  it('reads back exactly what an update of a cached record stored, whatever the update changed', async () => {
    const url = temp.urlOf('kept-update.sqlite');
    const { kv } = await openKeyValueStore(url);
    await kv.set('feed:x', { etag: '"a-long-entity-tag-value"', checks: 0, error: { kind: 'timeout' } });
    await kv.get('feed:x');
    type Row = { etag: string; checks: number; error?: { kind: string }; note?: string; gone?: undefined };
    let made: Row | undefined;
    const checking = kv.update<Row>(
      'feed:x',
      (current) => (made = { ...current!, checks: 1, gone: undefined }),
    );
    made!.checks = 99; // the updater keeps its object: what the update resolves to is the stored copy
    expect(await checking).toEqual({
      etag: '"a-long-entity-tag-value"',
      checks: 1,
      error: { kind: 'timeout' },
    });
    expect(await kv.get('feed:x')).toEqual({
      etag: '"a-long-entity-tag-value"',
      checks: 1,
      error: { kind: 'timeout' },
    });
    expect(Object.isFrozen(await kv.get('feed:x'))).toBe(true);

    await kv.update<Row>('feed:x', (current) => ({
      ...current!,
      note: 'a new and rather long note',
      checks: NaN,
    }));
    await kv.update<Row>('feed:x', (current) => ({ ...current!, error: { kind: 'http' } }));
    const expected = {
      etag: '"a-long-entity-tag-value"',
      checks: null,
      error: { kind: 'http' },
      note: 'a new and rather long note',
    };
    expect(await kv.get('feed:x')).toEqual(expected);
    expect(Object.isFrozen((await kv.get<Row>('feed:x'))?.error)).toBe(true);
    await kv.close();

    const reopened = await openKeyValueStore(url);
    expect(await reopened.kv.get('feed:x')).toEqual(expected);
    await reopened.kv.close();
  });

  it('updates a cached record from memory and keeps the update durable and ordered', async () => {
    const url = temp.urlOf('cached-update.sqlite');
    const { kv } = await openKeyValueStore(url);
    await kv.set('feed:x', { checks: 0 });
    const updates = Array.from({ length: 20 }, () =>
      kv.update<{ checks: number }>('feed:x', (current) => ({ checks: (current?.checks ?? 0) + 1 })),
    );
    const results = await Promise.all(updates);
    expect(results.map((result) => result?.checks)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await kv.close();

    const reopened = await openKeyValueStore(url);
    expect(await reopened.kv.get('feed:x')).toEqual({ checks: 20 });
    await reopened.kv.close();
  });

  it('warms up with every small record of a large store, page by page, and then knows the absent ones without asking', async () => {
    const url = temp.urlOf('warm.sqlite');
    const { kv } = await openKeyValueStore(url);
    await Promise.all(Array.from({ length: 4500 }, (_, n) => kv.set(`sub:${n}`, { n })));
    await kv.set('seen:feed', ['g:1']);
    await kv.close();

    const reopened = await openKeyValueStore(url);
    expect(await reopened.kv.warm()).toBe(4500);
    const afterWarm = reopened.kv.stats().reads;
    const values = await Promise.all(Array.from({ length: 4500 }, (_, n) => reopened.kv.get(`sub:${n}`)));
    expect(values).toEqual(Array.from({ length: 4500 }, (_, n) => ({ n })));
    expect(await reopened.kv.get('sub:missing')).toBeUndefined();
    expect(reopened.kv.stats().reads).toBe(afterWarm);
    expect(await reopened.kv.get('seen:feed')).toEqual(['g:1']);
    expect(reopened.kv.stats().reads).toBe(afterWarm + 1);
    await reopened.kv.close();
  });

  it('gives a record in memory without waiting, as get would, and says when only the database knows', async () => {
    const url = temp.urlOf('peek.sqlite');
    const first = await openKeyValueStore(url);
    await first.kv.set('sub:kept', { id: 'kept' });
    await first.kv.set('seen:f', ['g:1']);
    await first.kv.close();

    // Opened without warming: nothing is in memory yet.
    const { kv } = await openKeyValueStore(url);
    expect(kv.peek('sub:kept')).toBe(NOT_IN_MEMORY);
    expect(kv.peek('sub:missing')).toBe(NOT_IN_MEMORY);
    const read = await kv.get('sub:kept');
    expect(kv.peek('sub:kept')).toBe(read);

    await kv.warm();
    expect(kv.peek('sub:missing')).toBeUndefined();
    // Large records are never kept in memory, except while their write waits for its commit.
    expect(kv.peek('seen:f')).toBe(NOT_IN_MEMORY);
    const writing = kv.set('seen:f', ['g:1', 'g:2']);
    expect(kv.peek('seen:f')).toEqual(['g:1', 'g:2']);
    const updating = kv.update<{ id: string; n?: number }>('sub:kept', (current) => ({ ...current!, n: 2 }));
    expect(kv.peek('sub:kept')).toEqual({ id: 'kept', n: 2 });
    await Promise.all([writing, updating]);
    expect(kv.peek('seen:f')).toBe(NOT_IN_MEMORY);
    expect(kv.peek('sub:kept')).toBe(await kv.get('sub:kept'));

    await kv.close();
    // A closed store answers through get, which says it is closed.
    expect(kv.peek('sub:kept')).toBe(NOT_IN_MEMORY);
    await expect(kv.get('sub:kept')).rejects.toThrow(/closed/i);
  });

  it('reads seen keys and recent items from the database every time', async () => {
    const { kv } = await openKeyValueStore(temp.urlOf('nocache.sqlite'));
    await kv.set('seen:f', ['a']);
    const before = kv.stats().reads;

    await kv.get('seen:f');
    await kv.get('seen:f');

    expect(kv.stats().reads - before).toBe(2);
    await kv.close();
  });

  it('reads many keys from the database in batches after a restart, lined up with their keys', async () => {
    const url = temp.urlOf('many.sqlite');
    const first = await openKeyValueStore(url);
    const keys = Array.from({ length: 1_234 }, (_, n) => `sub:${n}`);
    await Promise.all(keys.filter((_, n) => n % 3 === 0).map((key, n) => first.kv.set(key, { n: n * 3 })));
    await first.kv.close();

    const { kv } = await openKeyValueStore(url);
    const values = await kv.getMany<{ n: number }>(keys);

    expect(values).toHaveLength(keys.length);
    values.forEach((value, n) => expect(value).toEqual(n % 3 === 0 ? { n } : undefined));
    expect(kv.stats().reads).toBe(3);
    await kv.getMany(keys);
    expect(kv.stats().reads).toBe(3);
    await kv.close();
  });
});
