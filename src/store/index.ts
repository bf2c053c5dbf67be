export * from './errors';
export { createKeyedMutex, type KeyedMutex } from './keyed-mutex';
export { NOT_IN_MEMORY, type NotInMemory, type StoreStats } from './key-value';
export { feedKeyHash } from './keys';
export {
  createKeyvStore,
  parseDatabaseUrl,
  type DatabaseLocation,
  type KeyvStoreOptions,
  type StoreLogger,
} from './keyv-store';
export type { Store } from './store';
export { SCHEMA_VERSION } from './schema';
export { uncheckedFeedState, type FeedState, type FeedStateRepository } from './feeds';
export type { FeedHistory, FeedHistoryRepository } from './history';
export { MIN_SEEN_CAPACITY, type SeenKeysRepository } from './seen';
export {
  RECENT_EXCERPT_CHARS,
  RECENT_ITEMS_LIMIT,
  mergeRecentItems,
  type RecentItem,
  type RecentItemsRepository,
} from './recent';
export { deliveryNonce, type NewOutboxEntry, type OutboxEntry, type OutboxRepository } from './outbox';
export type { MetaRepository } from './meta';
export {
  newSubscriptionId,
  type NewSubscription,
  type Subscription,
  type SubscriptionPatch,
  type SubscriptionRepository,
} from './subscriptions';
