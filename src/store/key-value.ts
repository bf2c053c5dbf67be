import type { Keyv } from 'keyv';
import { StoreClosedError } from './errors';
import { createKeyedMutex } from './keyed-mutex';

/** Operation counts since the store was opened; the benchmark reports writes per poll cycle. */
export interface StoreStats {
  /** `get`/`getMany` calls (a batched read counts once per batch sent to the backend). */
  reads: number;
  /** `set`/`delete` calls. */
  writes: number;
}

/**
 * The key-value layer every repository is built on: JSON values, per-key serialized
 * read-modify-write, and operation counters.
 */
export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  /** Reads many keys in batches; the result lines up with `keys`. */
  getMany<T>(keys: readonly string[]): Promise<Array<T | undefined>>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Runs `fn` holding `key`'s lock (not reentrant: inside, use `get`/`set`, not `update`, on that key). */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Read-modify-write of one key under its lock. `fn` returns the new value; returning `current`
   * itself writes nothing, returning `undefined` deletes the key. Resolves to the value now stored.
   */
  update<T>(key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  stats(): StoreStats;
  /** Waits for held locks and in-flight operations, then closes the backend. */
  close(): Promise<void>;
}

// The SQLite adapter matches getMany keys with a linear scan per key, so large batches cost n².
const GET_MANY_BATCH = 500;

/** Wraps a Keyv instance (created with `throwOnErrors: true`) as a counting, locking KeyValueStore. */
export function createKeyvKeyValueStore(keyv: Keyv): KeyValueStore {
  const mutex = createKeyedMutex();
  const inFlight = new Set<Promise<unknown>>();
  const counters: StoreStats = { reads: 0, writes: 0 };
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

  async function drain(): Promise<void> {
    // A section holding a lock may start new operations, and those may take more locks.
    while (mutex.size > 0 || inFlight.size > 0) {
      await mutex.idle();
      await Promise.allSettled([...inFlight]);
    }
  }

  const store: KeyValueStore = {
    get<T>(key: string) {
      return track(async () => {
        counters.reads++;
        return (await keyv.get<T>(key)) ?? undefined;
      });
    },
    getMany<T>(keys: readonly string[]) {
      return track(async () => {
        const values: Array<T | undefined> = [];
        for (let start = 0; start < keys.length; start += GET_MANY_BATCH) {
          counters.reads++;
          const batch = await keyv.getMany<T>(keys.slice(start, start + GET_MANY_BATCH));
          for (const value of batch) values.push(value ?? undefined);
        }
        return values;
      });
    },
    set(key: string, value: unknown) {
      return track(async () => {
        counters.writes++;
        await keyv.set(key, value);
      });
    },
    delete(key: string) {
      return track(async () => {
        counters.writes++;
        await keyv.delete(key);
      });
    },
    withLock<T>(key: string, fn: () => Promise<T>) {
      if (state === 'closed') return Promise.reject(new StoreClosedError());
      return mutex.run(key, fn);
    },
    update<T>(key: string, fn: (current: T | undefined) => T | undefined) {
      return store.withLock(key, async () => {
        const current = await store.get<T>(key);
        const next = fn(current);
        if (next === current) return current;
        if (next === undefined) await store.delete(key);
        else await store.set(key, next);
        return next;
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
        await keyv.disconnect();
      })();
      return closing;
    },
  };
  return store;
}
