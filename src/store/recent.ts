import type { FeedItem } from '../feeds/types';
import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';

/** How many items `/posts` can draw from per feed. */
export const RECENT_ITEMS_LIMIT = 50;

/** The newest normalized items per feed (`recent:<hash>`), for `/posts recent` and `/posts search`. */
export interface RecentItemsRepository {
  /** Newest first by `published`; undated items after dated ones. */
  get(url: string): Promise<FeedItem[]>;
  /**
   * Merges `items` (in document order) into the list: an item with a known `id` replaces the old
   * copy, the list is re-sorted and cut to 50. Writes nothing when the result is unchanged.
   */
  add(url: string, items: readonly FeedItem[]): Promise<FeedItem[]>;
  remove(url: string): Promise<void>;
}

function publishedTime(item: FeedItem): number | null {
  if (item.published === null) return null;
  const time = Date.parse(item.published);
  return Number.isNaN(time) ? null : time;
}

/**
 * Orders items newest first, undated last; ties keep their input order (Array.prototype.sort is
 * stable), so the latest fetch's document order wins among equals.
 */
export function mergeRecentItems(existing: readonly FeedItem[], incoming: readonly FeedItem[]): FeedItem[] {
  const byId = new Map<string, FeedItem>();
  for (const item of incoming) if (!byId.has(item.id)) byId.set(item.id, item);
  for (const item of existing) if (!byId.has(item.id)) byId.set(item.id, item);
  return [...byId.values()]
    .map((item) => ({ item, time: publishedTime(item) }))
    .sort((a, b) => {
      if (a.time === b.time) return 0;
      if (a.time === null) return 1;
      if (b.time === null) return -1;
      return b.time - a.time;
    })
    .slice(0, RECENT_ITEMS_LIMIT)
    .map(({ item }) => item);
}

/** Builds the recent-items repository over a key-value store. */
export function createRecentItemsRepository(kv: KeyValueStore): RecentItemsRepository {
  return {
    async get(url) {
      return (await kv.get<FeedItem[]>(storeKeys.recent(url))) ?? [];
    },
    async add(url, items) {
      const stored = await kv.update<FeedItem[]>(storeKeys.recent(url), (current = []) => {
        const merged = mergeRecentItems(current, items);
        if (merged.length === 0) return undefined;
        // Comparing JSON keeps an unchanged feed from costing a write.
        return JSON.stringify(merged) === JSON.stringify(current) ? current : merged;
      });
      return stored ?? [];
    },
    async remove(url) {
      await kv.update<FeedItem[]>(storeKeys.recent(url), () => undefined);
    },
  };
}
