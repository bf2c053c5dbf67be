import type { FeedItem } from '../feeds/types';
import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';
import { withRecentItems, type RecentItem, type StoredRecentItem } from './recent';
import { appendSeenKeys } from './seen';

/** A feed's seen keys and recent items, held while one fetch of the feed is recorded. */
export interface FeedHistory {
  /** Identity keys of items already handled. */
  readonly seen: ReadonlySet<string>;
  /**
   * Queues the fetch's identity keys (keeping the newest `capacity`, at least 200) and its items
   * for `/posts` into the next commit, in that order and in the same tick, without reading either
   * again. Writes nothing that is unchanged. Resolves once committed. Once per hold: a second call
   * throws.
   */
  record(keys: readonly string[], capacity: number, items: readonly (FeedItem | RecentItem)[]): Promise<void>;
}

/** Both records a fetch of a feed changes besides its state (`seen:<hash>`, `recent:<hash>`). */
export interface FeedHistoryRepository {
  /**
   * Runs `fn` holding the feed's seen keys and recent items, read with one query. Other writes to
   * them (`seen.add`, `recent.add`, removing the feed) wait until `fn` settles.
   */
  hold<T>(url: string, fn: (history: FeedHistory) => Promise<T>): Promise<T>;
}

/** Builds the feed history repository over a key-value store. */
export function createFeedHistoryRepository(kv: KeyValueStore): FeedHistoryRepository {
  /**
   * Queues a list's new value as `kv.update` would: nothing when the merge returned the list itself,
   * a delete when it returned undefined (nothing left) and something was stored.
   */
  const writeIfChanged = (key: string, before: readonly unknown[], after: readonly unknown[] | undefined) => {
    if (after === before) return Promise.resolve();
    if (after === undefined) return before.length > 0 ? kv.delete(key) : Promise.resolve();
    return kv.set(key, after);
  };
  return {
    hold(url, fn) {
      const seenKey = storeKeys.seen(url);
      const recentKey = storeKeys.recent(url);
      // Always seen before recent: nothing else takes both, so the order cannot deadlock.
      return kv.withLock(seenKey, () =>
        kv.withLock(recentKey, async () => {
          const [storedSeen, storedRecent] = await kv.getMany<unknown>([seenKey, recentKey]);
          const seenKeys = (storedSeen as readonly string[] | undefined) ?? [];
          const recent = (storedRecent as readonly StoredRecentItem[] | undefined) ?? [];
          // Once only: keeping what was recorded for a second call would keep the parsed feed's
          // strings (slices of its whole body) alive until the commit.
          let recorded = false;
          return fn({
            seen: new Set(seenKeys),
            record(keys, capacity, items) {
              if (recorded) throw new Error(`the history of ${url} was already recorded in this hold`);
              const nextSeen = appendSeenKeys(seenKeys, keys, capacity).keys;
              const nextRecent = withRecentItems(recent, items);
              // Seen keys first, then recent items: the order they reach the database in.
              const writes = [
                writeIfChanged(seenKey, seenKeys, nextSeen),
                writeIfChanged(recentKey, recent, nextRecent),
              ];
              recorded = true;
              return Promise.all(writes).then(() => undefined);
            },
          });
        }),
      );
    },
  };
}
