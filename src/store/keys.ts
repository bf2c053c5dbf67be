import { createHash } from 'node:crypto';

// Every check derives two or three keys from its feed's URL; hashing each time cost ~9 µs a check.
const hashedUrls = new Map<string, string>();
const MAX_HASHED_URLS = 100_000;

/** The short, stable key a feed URL is stored under: the first 16 hex digits of its SHA-256. */
export function feedKeyHash(url: string): string {
  let hash = hashedUrls.get(url);
  if (hash === undefined) {
    hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
    if (hashedUrls.size >= MAX_HASHED_URLS) hashedUrls.clear();
    hashedUrls.set(url, hash);
  }
  return hash;
}

/** Every key the store writes; the prefixes are the data model in DESIGN.md. */
export const storeKeys = {
  subscription: (id: string) => `sub:${id}`,
  guildSubscriptions: (guildId: string) => `guild:${guildId}:subs`,
  feedSubscriptions: (url: string) => `feed:${feedKeyHash(url)}:subs`,
  feedState: (url: string) => `feed:${feedKeyHash(url)}`,
  feedIndex: 'feeds',
  seen: (url: string) => `seen:${feedKeyHash(url)}`,
  recent: (url: string) => `recent:${feedKeyHash(url)}`,
  outbox: (subscriptionId: string) => `outbox:${subscriptionId}`,
  outboxIndex: 'outbox',
  meta: (name: string) => `meta:${name}`,
} as const;

/**
 * Records the store keeps in memory: all but each feed's seen keys and recent items, which are
 * large and read only when the feed changed. Outboxes are included: every check asks for its
 * subscriptions' queues, which are nearly always empty, and posts leave them within seconds.
 */
export function isSmallRecordKey(key: string): boolean {
  return !(key.startsWith('seen:') || key.startsWith('recent:'));
}

/** The key prefixes of the records {@link isSmallRecordKey} leaves out. */
export const LARGE_RECORD_PREFIXES = ['seen:', 'recent:'] as const;
