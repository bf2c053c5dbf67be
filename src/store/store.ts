import { createFeedStateRepository, type FeedStateRepository } from './feeds';
import { createFeedHistoryRepository, type FeedHistoryRepository } from './history';
import type { KeyValueStore, StoreStats } from './key-value';
import { createMetaRepository, type MetaRepository } from './meta';
import { createOutboxRepository, type OutboxRepository } from './outbox';
import { createRecentItemsRepository, type RecentItemsRepository } from './recent';
import { createSeenKeysRepository, type SeenKeysRepository } from './seen';
import { createSubscriptionRepository, type SubscriptionRepository } from './subscriptions';

/** Everything Herald keeps, one repository per kind of record. */
export interface Store {
  subscriptions: SubscriptionRepository;
  feeds: FeedStateRepository;
  seen: SeenKeysRepository;
  recent: RecentItemsRepository;
  /** Seen keys and recent items together, for recording a fetch with one read. */
  history: FeedHistoryRepository;
  outbox: OutboxRepository;
  meta: MetaRepository;
  /** Reads and writes since opening; cheap enough to call every poll cycle. */
  stats(): StoreStats;
  /** Lets running operations finish, then closes the database. Later calls fail with StoreClosedError. */
  close(): Promise<void>;
}

/** Assembles the repositories over one key-value store. */
export function createStoreOver(
  kv: KeyValueStore,
  options: { now?: () => number; newSubscriptionId?: () => string } = {},
): Store {
  const now = options.now ?? Date.now;
  const feeds = createFeedStateRepository(kv);
  const seen = createSeenKeysRepository(kv);
  const recent = createRecentItemsRepository(kv);
  const outbox = createOutboxRepository(kv, now);
  const subscriptions = createSubscriptionRepository({
    kv,
    feeds,
    seen,
    recent,
    outbox,
    now,
    ...(options.newSubscriptionId ? { newId: options.newSubscriptionId } : {}),
  });
  return {
    subscriptions,
    feeds,
    seen,
    recent,
    history: createFeedHistoryRepository(kv),
    outbox,
    meta: createMetaRepository(kv),
    stats: () => kv.stats(),
    close: () => kv.close(),
  };
}
