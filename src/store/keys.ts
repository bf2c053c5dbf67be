import { createHash } from 'node:crypto';

/** The short, stable key a feed URL is stored under: the first 16 hex digits of its SHA-256. */
export function feedKeyHash(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
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
