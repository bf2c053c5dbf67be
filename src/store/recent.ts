import { textExcerpt } from '../feeds/summary';
import type { FeedItem } from '../feeds/types';
import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';

/** How many items `/posts` can draw from per feed. */
export const RECENT_ITEMS_LIMIT = 50;

/** Longest excerpt of an item's text kept for `/posts search`. */
export const RECENT_EXCERPT_CHARS = 300;

/**
 * What `/posts` needs of an item: it shows the title, link and date, and searches the title and the
 * start of the text. Kept this small because 50 are stored per feed and rewritten on every change;
 * the item's full text (up to 8 KB per source) stays out.
 */
export interface RecentItem {
  /** The item's primary identity key. */
  id: string;
  title: string | null;
  link: string | null;
  /** ISO-8601 UTC, or null. */
  published: string | null;
  /** Plain text from the start of the item's text, at most {@link RECENT_EXCERPT_CHARS} long; '' when none. */
  excerpt: string;
}

/** The newest items per feed (`recent:<hash>`), for `/posts recent` and `/posts search`. */
export interface RecentItemsRepository {
  /** Newest first by `published`; undated items after dated ones. */
  get(url: string): Promise<RecentItem[]>;
  /**
   * Merges `items` (in document order) into the list: an item with a known `id` replaces the old
   * copy, the list is re-sorted and cut to 50. Writes nothing when the result is unchanged. Parsed
   * items are reduced to {@link RecentItem}s; recent items (moved from another URL) are kept as they are.
   */
  add(url: string, items: readonly (FeedItem | RecentItem)[]): Promise<RecentItem[]>;
  remove(url: string): Promise<void>;
}

/** What Herald stored before recent items were slimmed: whole items with a markdown summary. */
interface LegacyRecentItem {
  id: string;
  title: string | null;
  link: string | null;
  published: string | null;
  summary?: string | null;
}

/** A recent item as read back from the store. */
export type StoredRecentItem = RecentItem | LegacyRecentItem;

/** An item as the recent list keeps it. */
function toRecentItem(item: FeedItem | StoredRecentItem): RecentItem {
  const { id, title, link, published } = item;
  let excerpt: string;
  if ('content' in item) excerpt = textExcerpt(item, RECENT_EXCERPT_CHARS);
  else if ('excerpt' in item) excerpt = item.excerpt;
  // An older store kept the summary, as markdown: its start serves, until the next change stores the list slim.
  else excerpt = textExcerpt({ content: [{ text: item.summary ?? '', type: 'text' }] }, RECENT_EXCERPT_CHARS);
  return { id, title, link, published, excerpt };
}

function publishedTime(item: RecentItem): number | null {
  if (item.published === null) return null;
  const time = Date.parse(item.published);
  return Number.isNaN(time) ? null : time;
}

/**
 * Orders items newest first, undated last; ties keep their input order (Array.prototype.sort is
 * stable), so the latest fetch's document order wins among equals.
 */
export function mergeRecentItems(
  existing: readonly RecentItem[],
  incoming: readonly RecentItem[],
): RecentItem[] {
  const byId = new Map<string, RecentItem>();
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
export function createRecentItemsRepository(
  kv: Pick<KeyValueStore, 'get' | 'update'>,
): RecentItemsRepository {
  return {
    async get(url) {
      return ((await kv.get<StoredRecentItem[]>(storeKeys.recent(url))) ?? []).map(toRecentItem);
    },
    async add(url, items) {
      const stored = await kv.update<readonly StoredRecentItem[]>(storeKeys.recent(url), (current = []) =>
        withRecentItems(current, items),
      );
      return (stored ?? []).map(toRecentItem);
    },
    async remove(url) {
      await kv.update<StoredRecentItem[]>(storeKeys.recent(url), () => undefined);
    },
  };
}

/**
 * The stored list after merging `items` into it (see {@link mergeRecentItems}): `current` itself
 * when nothing changes, so nothing is written, and undefined when the list is empty.
 */
export function withRecentItems(
  current: readonly StoredRecentItem[],
  items: readonly (FeedItem | RecentItem)[],
): readonly StoredRecentItem[] | undefined {
  const merged = mergeRecentItems(current.map(toRecentItem), items.map(toRecentItem));
  if (merged.length === 0) return undefined;
  return isStoredAs(merged, current) ? current : merged;
}

/** Whether `current` already holds exactly `items` (a legacy record never does: it is rewritten). */
function isStoredAs(items: readonly RecentItem[], current: readonly StoredRecentItem[]): boolean {
  if (items.length !== current.length) return false;
  return items.every((item, index) => {
    const stored = current[index];
    return (
      stored !== undefined &&
      'excerpt' in stored &&
      Object.keys(stored).length === 5 &&
      stored.id === item.id &&
      stored.title === item.title &&
      stored.link === item.link &&
      stored.published === item.published &&
      stored.excerpt === item.excerpt
    );
  });
}
