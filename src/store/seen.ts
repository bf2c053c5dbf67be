import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';

/** The smallest capacity worth keeping, whatever the caller asks (DESIGN.md: at least 200). */
export const MIN_SEEN_CAPACITY = 200;

/** Identity keys of items already handled per feed (`seen:<hash>`), oldest first, bounded. */
export interface SeenKeysRepository {
  get(url: string): Promise<Set<string>>;
  /**
   * Appends the keys not yet present and keeps only the newest `capacity` (the caller passes
   * max(200, 3 × items in the feed)). Writes nothing when nothing changes. Resolves to how many
   * keys were added.
   */
  add(url: string, keys: readonly string[], capacity: number): Promise<number>;
  /** Deletes every seen key of the feed. */
  remove(url: string): Promise<void>;
}

/** Builds the seen-keys repository over a key-value store. */
export function createSeenKeysRepository(kv: KeyValueStore): SeenKeysRepository {
  return {
    async get(url) {
      return new Set((await kv.get<string[]>(storeKeys.seen(url))) ?? []);
    },
    async add(url, keys, capacity) {
      let added = 0;
      await kv.update<readonly string[]>(storeKeys.seen(url), (current = []) => {
        const appended = appendSeenKeys(current, keys, capacity);
        added = appended.added;
        return appended.keys;
      });
      return added;
    },
    async remove(url) {
      await kv.update<string[]>(storeKeys.seen(url), () => undefined);
    },
  };
}

/**
 * The seen list after adding `keys`: the keys not yet present appended, only the newest
 * `capacity` (at least {@link MIN_SEEN_CAPACITY}) kept. `keys` is `current` itself when nothing
 * changes, and undefined when the list is empty.
 */
export function appendSeenKeys(
  current: readonly string[],
  keys: readonly string[],
  capacity: number,
): { keys: readonly string[] | undefined; added: number } {
  const limit = Math.max(MIN_SEEN_CAPACITY, Math.floor(capacity));
  const present = new Set(current);
  const fresh: string[] = [];
  for (const key of keys) {
    if (present.has(key)) continue;
    present.add(key);
    fresh.push(key);
  }
  if (fresh.length === 0 && current.length <= limit) {
    return { keys: current.length > 0 ? current : undefined, added: 0 };
  }
  return { keys: [...current, ...fresh].slice(-limit), added: fresh.length };
}
