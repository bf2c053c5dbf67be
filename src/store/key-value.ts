import type { Keyv } from 'keyv';
import { decodeValue, deserializeRow, encodeValue, EncodedValue, rowOfEncoded, serializeRow } from './codec';
import { StoreClosedError } from './errors';
import { createKeyedMutex } from './keyed-mutex';

/** What {@link KeyValueStore.peek} gives for a key whose value only the database can tell. */
export const NOT_IN_MEMORY: unique symbol = Symbol('not in memory');

/** The type of {@link NOT_IN_MEMORY}. */
export type NotInMemory = typeof NOT_IN_MEMORY;

/** Operation counts since the store was opened; the benchmark reports writes per poll cycle. */
export interface StoreStats {
  /** Reads that reached the database (a batched read counts once per batch); cache hits are free. */
  reads: number;
  /** `set`/`delete` calls. */
  writes: number;
  /** Commits: every write waiting at the same moment goes into one. */
  commits: number;
}

/**
 * The key-value layer every repository is built on: JSON values, per-key serialized
 * read-modify-write, and operation counters.
 */
export interface KeyValueStore {
  /**
   * Reads a value. A cached key's value is shared and deep-frozen (copy it to change it, as every
   * repository does with `{ ...current }`); other values are fresh copies.
   */
  get<T>(key: string): Promise<T | undefined>;
  /**
   * `get` without waiting, for a key whose value is in memory (a cached record, or a write not yet
   * committed): the value as `get` would give it, undefined when the key is known to be absent, or
   * {@link NOT_IN_MEMORY} when only the database can tell (then use `get`). A poll reads four or
   * five records of every feed; from memory, each `get` still costs a promise and a suspended
   * caller, which were a sixth of what a 304 check allocated.
   */
  peek<T>(key: string): T | undefined | NotInMemory;
  /** Reads many keys in batches; the result lines up with `keys`. */
  getMany<T>(keys: readonly string[]): Promise<Array<T | undefined>>;
  /** Stores a value; resolves once it is committed. The value is copied: later changes to it are not stored. */
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Runs `fn` holding `key`'s lock (not reentrant: inside, use `get`/`set`, not `update`, on that key). */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Read-modify-write of one key under its lock. `fn` returns the new value; returning `current`
   * itself writes nothing, returning `undefined` deletes the key. Resolves to the value now stored,
   * as `get` would return it (for a cached key, shared and frozen), not `fn`'s own object.
   */
  update<T>(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  /**
   * Reads every record kept in memory with one query, where the backend can list them, so a start
   * with thousands of feeds does not read them one by one in its first poll, and a small record
   * not found then is known to be absent without asking. Resolves to how many were loaded.
   */
  warm(): Promise<number>;
  stats(): StoreStats;
  /** Waits for held locks and in-flight operations, then closes the backend. */
  close(): Promise<void>;
}

/** Options of {@link createKeyvKeyValueStore}. */
export interface KeyValueStoreOptions {
  /**
   * Whether a key's value is kept in memory once read or written. Herald is the only writer of its
   * database, so a cached value is never stale; small records read on every poll (feed state,
   * subscriptions, indexes, outboxes) are worth it, large ones (seen keys, recent items) are not.
   */
  cacheKey?: (key: string) => boolean;
  /**
   * Lists, in key order, up to `limit` stored rows (as Keyv serialized them) after the key `after`
   * among the keys `cacheKey` accepts; used by `warm`.
   */
  listCachedRows?: (after: string | null, limit: number) => Promise<Array<{ key: string; value: string }>>;
  /**
   * Writes rows (key, and the value in Keyv's row format) in one go, where the backend can: a
   * commit then skips Keyv's `setMany`, which wraps every row in an async call and an object of
   * its own (measured: about 5 % of what a warm poll cycle allocated).
   */
  writeRows?: (rows: Array<{ key: string; value: string }>) => Promise<void>;
}

// Keeps each backend query's JSON parameter and result of a modest size.
const GET_MANY_BATCH = 500;

/** Rows per query when the cache is warmed at start. */
const WARM_PAGE_ROWS = 2000;

/** A cached value already decoded: shared by every reader, so frozen. */
class Decoded {
  constructor(readonly value: unknown) {}
}

/** Freezes a decoded JSON value and everything in it (plain objects and arrays only, no cycles). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

/**
 * The cache entry of a stored row: the value's own encoding, decoded on first read like a write's
 * (so a start does not decode thousands of records at once), or the decoded value for rows in
 * another layout (an expiry, written by an older Keyv).
 */
function encodedValueOf(row: string): Decoded | string | null {
  const prefix = '{"value":';
  if (row.startsWith(prefix) && row.endsWith('}') && !row.includes('"expires":')) {
    return row.slice(prefix.length, -1);
  }
  const { value } = deserializeRow<unknown>(row);
  return value === undefined ? null : new Decoded(deepFreeze(value));
}

/**
 * A copy of `next` that shares every string and object with the frozen `current` (a string equal
 * to the current one is taken from `current`), or null when `next` brings a string or object of its
 * own. Such a string could be a slice of some large text, and V8 keeps the whole parent of a slice
 * alive; strings shorter than 13 characters are never slices and are taken as they are. The copy
 * holds what JSON would store: no undefined members, no NaN or Infinity.
 */
function sameStringsAs(current: unknown, next: unknown): Record<string, unknown> | null {
  if (!isPlainRecord(current) || !isPlainRecord(next)) return null;
  const copy: Record<string, unknown> = {};
  for (const name in next) {
    const value = next[name];
    if (typeof value === 'string') {
      const old = current[name];
      if (value === old) copy[name] = old;
      else if (value.length < 13) copy[name] = value;
      else return null;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return null;
      copy[name] = value;
    } else if (value === null || typeof value === 'boolean') {
      copy[name] = value;
    } else if (value !== undefined) {
      // An object or array: only the current record's own (frozen) one is safe to share.
      if (typeof value !== 'object' || value !== current[name]) return null;
      copy[name] = value;
    }
  }
  return copy;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `promise`, then `value`. A function of its own so that the callback closes over nothing else:
 * one created inside `update` would keep that call's context, with the caller's updater and
 * everything the updater closes over (a parsed feed, its whole body), alive until the commit.
 */
function once<T>(promise: Promise<unknown>, value: T): Promise<T> {
  return promise.then(() => value);
}

/** Writes waiting for the same commit: the newest encoded value per key, or null for a delete. */
interface Batch {
  writes: Map<string, string | null>;
  committed: Promise<void>;
  settle(error?: unknown): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const committed = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers await their own write; this keeps a failed batch nobody awaits any more from being unhandled.
  committed.catch(() => undefined);
  return {
    writes: new Map(),
    committed,
    settle: (error) => (error === undefined ? resolve() : reject(error)),
  };
}

/**
 * Wraps a Keyv instance (created with `throwOnErrors: true`; the store sets its serializer) as a
 * counting, locking KeyValueStore with a write-through cache and group commit: every write issued
 * while the previous commit runs goes into the next one, so a poll cycle of thousands of feeds
 * costs a few dozen commits, and each `set` still resolves only once its value is committed.
 */
export function createKeyvKeyValueStore(keyv: Keyv, options: KeyValueStoreOptions = {}): KeyValueStore {
  const cacheKey = options.cacheKey ?? (() => false);
  // Same rows as Keyv's default serializer, faster; and writes arrive already encoded.
  keyv.serialize = serializeRow;
  keyv.deserialize = deserializeRow;
  const mutex = createKeyedMutex();
  const inFlight = new Set<Promise<unknown>>();
  const counters: StoreStats = { reads: 0, writes: 0, commits: 0 };
  /**
   * Cached keys: the value decoded and frozen once read (a 304 check reads its feed's state and
   * subscriptions without parsing JSON), or encoded as written until the next read decodes it
   * (the writer's object stays its own); null when the key is known to be absent.
   */
  const cache = new Map<string, Decoded | string | null>();
  /** Set once `warm` loaded every cached record: a cached key not in the cache is then absent. */
  let cacheComplete = false;
  let open: Batch | undefined;
  let committing: Batch | undefined;
  let flushScheduled = false;
  let state: 'open' | 'closing' | 'closed' = 'open';
  let closing: Promise<void> | undefined;

  function track<T>(operation: () => Promise<T>): Promise<T> {
    if (state === 'closed') return Promise.reject(new StoreClosedError());
    const promise = operation();
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /**
   * What this process last wrote or read for `key`: a decoded value, encoded text, null (absent),
   * or undefined (ask the database). Writes update the cache at once, so a cached key needs no
   * look at the pending batches.
   */
  function known(key: string): Decoded | string | null | undefined {
    // Only cached keys are in the cache: a hit needs no further test.
    const entry = cache.get(key);
    if (entry !== undefined) return entry;
    if (cacheKey(key)) return cacheComplete ? null : undefined;
    if (open?.writes.has(key)) return open.writes.get(key);
    if (committing?.writes.has(key)) return committing.writes.get(key);
    return undefined;
  }

  /** The value `known` found, decoded (and, for a cached key, frozen and kept decoded). */
  function valueOf<T>(key: string, entry: Decoded | string | null): T | undefined {
    if (entry === null) return undefined;
    if (entry instanceof Decoded) return entry.value as T;
    const value = decodeValue<T>(entry);
    if (!cacheKey(key)) return value;
    cache.set(key, new Decoded(deepFreeze(value)));
    return value;
  }

  function remember<T>(key: string, value: T | undefined): T | undefined {
    // A write that started meanwhile already put the newer value in the cache.
    if (!cacheKey(key) || cache.has(key)) return value;
    cache.set(key, value === undefined ? null : new Decoded(deepFreeze(value)));
    return value;
  }

  function write(key: string, encoded: string | null): Promise<void> {
    counters.writes++;
    if (cacheKey(key)) cache.set(key, encoded);
    if (!open) {
      open = newBatch();
      // Tracked once per batch rather than per write: close() waits for it all the same.
      const { committed } = open;
      inFlight.add(committed);
      const forget = () => inFlight.delete(committed);
      committed.then(forget, forget);
    }
    // A rewritten key moves to the end: rows are committed in the order they were last written,
    // so a crash part-way through a large batch keeps the callers' write order (outbox before
    // seen keys before feed state).
    open.writes.delete(key);
    open.writes.set(key, encoded);
    const { committed } = open;
    scheduleFlush();
    return committed;
  }

  /**
   * Writes the value an update computed; resolves, once committed, to a copy of it as stored. The
   * caller's object may hold slices of a whole feed body (V8 keeps the parent string alive for a
   * slice): cached, 20,000 states held 1 GB that way, and even held only until the commit the
   * bodies were promoted to the old generation. So the copy is decoded from the encoding, except
   * when `sameStringsAs` shows the update brings no string of its own (a poll's check times).
   * A cached key keeps the copy, frozen, for the next read.
   */
  function writeUpdated<T>(key: string, current: T | undefined, next: T | undefined): Promise<T | undefined> {
    if (next === undefined) return once(write(key, null), undefined);
    const encoded = encodeValue(next);
    const committed = write(key, encoded);
    if (!cacheKey(key)) return once(committed, decodeValue<T>(encoded));
    const kept = sameStringsAs(current, next);
    const stored = (kept ? Object.freeze(kept) : deepFreeze(decodeValue<T>(encoded))) as T;
    cache.set(key, new Decoded(stored));
    return once(committed, stored);
  }

  /** Commits encoded values: straight to the backend when it takes rows, else through Keyv. */
  function writeRows(sets: Array<{ key: string; value: string }>): Promise<unknown> {
    if (options.writeRows) {
      for (const row of sets) row.value = rowOfEncoded(row.value);
      return options.writeRows(sets);
    }
    return keyv.setMany(sets.map(({ key, value }) => ({ key, value: new EncodedValue(value) })));
  }

  function scheduleFlush(): void {
    if (flushScheduled || committing) return;
    flushScheduled = true;
    // setImmediate lets every write of the current burst of callbacks join this commit.
    setImmediate(() => void flush());
  }

  async function flush(): Promise<void> {
    flushScheduled = false;
    const batch = open;
    if (!batch || committing) return;
    open = undefined;
    committing = batch;
    const sets: Array<{ key: string; value: string }> = [];
    const deletes: string[] = [];
    for (const [key, encoded] of batch.writes) {
      if (encoded === null) deletes.push(key);
      else sets.push({ key, value: encoded });
    }
    try {
      if (sets.length > 0) await writeRows(sets);
      if (deletes.length > 0) await keyv.deleteMany(deletes);
      counters.commits++;
      batch.settle();
    } catch (error) {
      // The cache must not claim what the database refused; a newer pending write keeps its value.
      // (`open` is a newer batch here: this one was taken out of it before the first await.)
      const newer = open as Batch | undefined;
      for (const key of batch.writes.keys()) if (!newer?.writes.has(key)) cache.delete(key);
      cacheComplete = false;
      batch.settle(error);
    } finally {
      committing = undefined;
      if (open) scheduleFlush();
    }
  }

  async function drain(): Promise<void> {
    // A section holding a lock may start new operations, and those may take more locks.
    while (mutex.size > 0 || inFlight.size > 0) {
      await mutex.idle();
      await Promise.allSettled([...inFlight]);
    }
  }

  const store: KeyValueStore = {
    get<T>(key: string) {
      const entry = known(key);
      if (entry !== undefined) {
        if (state === 'closed') return Promise.reject(new StoreClosedError());
        return Promise.resolve(valueOf<T>(key, entry));
      }
      return track(async () => {
        counters.reads++;
        return remember(key, (await keyv.get<T>(key)) ?? undefined);
      });
    },
    peek<T>(key: string) {
      // A closed store answers through `get`, which says so.
      if (state === 'closed') return NOT_IN_MEMORY;
      const entry = known(key);
      return entry === undefined ? NOT_IN_MEMORY : valueOf<T>(key, entry);
    },
    getMany<T>(keys: readonly string[]) {
      return track(async () => {
        const values: Array<T | undefined> = new Array<T | undefined>(keys.length);
        const missing: number[] = [];
        keys.forEach((key, index) => {
          const entry = known(key);
          if (entry === undefined) missing.push(index);
          else values[index] = valueOf<T>(key, entry);
        });
        for (let start = 0; start < missing.length; start += GET_MANY_BATCH) {
          const indexes = missing.slice(start, start + GET_MANY_BATCH);
          counters.reads++;
          const batch = await keyv.getMany<T>(indexes.map((index) => keys[index] as string));
          indexes.forEach((index, position) => {
            values[index] = remember(keys[index] as string, batch[position] ?? undefined);
          });
        }
        return values;
      });
    },
    set(key: string, value: unknown) {
      if (state === 'closed') return Promise.reject(new StoreClosedError());
      return write(key, encodeValue(value));
    },
    delete(key: string) {
      if (state === 'closed') return Promise.reject(new StoreClosedError());
      return write(key, null);
    },
    withLock<T>(key: string, fn: () => Promise<T>) {
      if (state === 'closed') return Promise.reject(new StoreClosedError());
      return mutex.run(key, fn);
    },
    update<T>(key: string, fn: (current: T | undefined) => T | undefined) {
      const entry = cacheKey(key) && !mutex.holds(key) ? cache.get(key) : undefined;
      if (entry !== undefined && state === 'open') {
        // Read, change and write with no await in between: nothing can interleave, so the lock
        // (three promise hops per write, on every poll) is not needed.
        const current = valueOf<T>(key, entry);
        const next = fn(current);
        if (next === current) return Promise.resolve(current);
        return writeUpdated(key, current, next);
      }
      return store.withLock(key, async () => {
        const current = await store.get<T>(key);
        const next = fn(current);
        if (next === current) return current;
        if (state === 'closed') throw new StoreClosedError();
        return writeUpdated(key, current, next);
      });
    },
    warm() {
      const list = options.listCachedRows;
      if (!list) return Promise.resolve(0);
      return track(async () => {
        let loaded = 0;
        let after: string | null = null;
        for (;;) {
          // In pages, so a large store is not held twice in memory (rows and cache) at start.
          counters.reads++;
          const rows = await list(after, WARM_PAGE_ROWS);
          for (const { key, value } of rows) {
            // A key read or written meanwhile already holds a value at least as new.
            if (!cacheKey(key) || cache.has(key)) continue;
            cache.set(key, encodedValueOf(value));
            loaded++;
          }
          const last = rows.at(-1);
          if (!last || rows.length < WARM_PAGE_ROWS) break;
          after = last.key;
        }
        cacheComplete = true;
        return loaded;
      });
    },
    stats() {
      return { ...counters };
    },
    close() {
      closing ??= (async () => {
        state = 'closing';
        await drain();
        state = 'closed';
        cache.clear();
        await keyv.disconnect();
      })();
      return closing;
    },
  };
  return store;
}
