import { createHash } from 'node:crypto';

/**
 * The keys of one feed, built once. Every check looks up three or four of them, and a key string
 * built afresh must be hashed again for every Map lookup (hashing the URL each time cost ~9 µs a
 * check); a kept string keeps its hash.
 */
interface FeedKeys {
  hash: string;
  state: string;
  check: string;
  subscriptions: string;
  seen: string;
  recent: string;
}

/** The keys of one subscription, built once, for the same reason. */
interface SubscriptionKeys {
  subscription: string;
  outbox: string;
}

const keysByUrl = new Map<string, FeedKeys>();
const keysById = new Map<string, SubscriptionKeys>();
/** Past this many entries a memo starts over, so it stays bounded whatever the store holds. */
const MAX_MEMOIZED = 100_000;

function feedKeys(url: string): FeedKeys {
  let keys = keysByUrl.get(url);
  if (keys === undefined) {
    const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
    keys = {
      hash,
      state: `feed:${hash}`,
      check: `feed:${hash}:check`,
      subscriptions: `feed:${hash}:subs`,
      seen: `seen:${hash}`,
      recent: `recent:${hash}`,
    };
    if (keysByUrl.size >= MAX_MEMOIZED) keysByUrl.clear();
    keysByUrl.set(url, keys);
  }
  return keys;
}

function subscriptionKeys(id: string): SubscriptionKeys {
  let keys = keysById.get(id);
  if (keys === undefined) {
    keys = { subscription: `sub:${id}`, outbox: `outbox:${id}` };
    if (keysById.size >= MAX_MEMOIZED) keysById.clear();
    keysById.set(id, keys);
  }
  return keys;
}

/** The short, stable key a feed URL is stored under: the first 16 hex digits of its SHA-256. */
export function feedKeyHash(url: string): string {
  return feedKeys(url).hash;
}

/** Every key the store writes; the prefixes are the data model in DESIGN.md. */
export const storeKeys = {
  subscription: (id: string) => subscriptionKeys(id).subscription,
  guildSubscriptions: (guildId: string) => `guild:${guildId}:subs`,
  feedSubscriptions: (url: string) => feedKeys(url).subscriptions,
  feedState: (url: string) => feedKeys(url).state,
  feedCheck: (url: string) => feedKeys(url).check,
  feedIndex: 'feeds',
  seen: (url: string) => feedKeys(url).seen,
  recent: (url: string) => feedKeys(url).recent,
  outbox: (subscriptionId: string) => subscriptionKeys(subscriptionId).outbox,
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
