import { randomBytes } from 'node:crypto';
import { DuplicateSubscriptionError, SubscriptionLimitError } from './errors';
import type { FeedStateRepository } from './feeds';
import { addToIndex, removeFromIndex } from './id-lists';
import { NOT_IN_MEMORY, type KeyValueStore, type NotInMemory } from './key-value';
import { storeKeys } from './keys';
import type { OutboxRepository } from './outbox';
import type { RecentItemsRepository } from './recent';
import type { SeenKeysRepository } from './seen';

/** One channel following one feed. Times are epoch ms. */
export interface Subscription {
  /** Short, URL-safe, random; never reused. */
  id: string;
  guildId: string;
  channelId: string;
  /** The feed's canonical URL; the caller canonicalizes, the store compares it exactly. */
  feedUrl: string;
  /** A role pinged with every post. */
  mentionRoleId?: string;
  /** The user who subscribed. */
  createdBy: string;
  createdAt: number;
  paused?: boolean;
  /** Why it is paused, shown in `/feed list` and `/feed status` (e.g. "Herald lost access to the channel"). */
  pausedReason?: string;
  pausedAt?: number;
  /** When the last post was delivered (for `/feed list`). */
  lastPostAt?: number;
  /** How many items were delivered (for `/feed status`). */
  postedCount: number;
}

/** What `/feed add` knows when it subscribes a channel. */
export interface NewSubscription {
  guildId: string;
  channelId: string;
  feedUrl: string;
  mentionRoleId?: string | null | undefined;
  createdBy: string;
}

/**
 * A change to a subscription's mutable fields; `null` removes an optional field. Setting `paused`
 * to false also clears `pausedReason` and `pausedAt`.
 */
export interface SubscriptionPatch {
  mentionRoleId?: string | null;
  paused?: boolean;
  pausedReason?: string | null;
  pausedAt?: number | null;
  lastPostAt?: number | null;
  postedCount?: number;
}

/** Subscriptions (`sub:<id>`) with their per-server and per-feed indexes. */
export interface SubscriptionRepository {
  /**
   * Subscribes a channel, checking and inserting atomically per server. Throws
   * DuplicateSubscriptionError when the channel already follows `feedUrl`, and
   * SubscriptionLimitError when the server already has `maxPerGuild` subscriptions.
   */
  create(input: NewSubscription, limits: { maxPerGuild: number }): Promise<Subscription>;
  get(id: string): Promise<Subscription | undefined>;
  /** Like `get`, but a subscription of another server is not found. */
  getForGuild(guildId: string, id: string): Promise<Subscription | undefined>;
  /** The server's subscriptions in the order they were created. */
  listByGuild(guildId: string): Promise<Subscription[]>;
  /** Every subscription (in any server) to a feed URL. */
  listByFeed(feedUrl: string): Promise<Subscription[]>;
  /** `listByFeed` without waiting, when they are all in memory; else {@link NOT_IN_MEMORY}. */
  peekByFeed(feedUrl: string): Subscription[] | NotInMemory;
  /** Applies a patch (or a patch computed from the current value, atomically); undefined when gone. */
  update(
    id: string,
    patch: SubscriptionPatch | ((current: Subscription) => SubscriptionPatch),
  ): Promise<Subscription | undefined>;
  /**
   * Pauses every active subscription of a server, or of one of its channels, with a reason shown
   * in `/feed list` and `/feed status`; resolves to the ones it paused.
   */
  pauseAll(guildId: string, scope: { channelId?: string }, reason: string): Promise<Subscription[]>;
  /**
   * Removes a server's subscription and its pending deliveries; resolves to what was removed, or
   * undefined when the id is unknown or belongs to another server (then nothing changes). When it
   * was the feed's last subscription, the feed leaves the `feeds` index and its state, seen keys and
   * recent items are deleted, so subscribing again later starts from a fresh baseline instead of
   * posting everything published in between.
   */
  remove(guildId: string, id: string): Promise<Subscription | undefined>;
  /**
   * Follows a permanent redirect: every subscription to `oldUrl` moves to `newUrl`, the feed's state,
   * seen keys and recent items are merged into the new URL's, and the old URL is dropped. A channel
   * that already follows `newUrl` keeps that subscription and loses the old one. Resolves to the
   * number of subscriptions moved.
   */
  moveFeed(oldUrl: string, newUrl: string): Promise<number>;
}

/** Dependencies of the subscription repository; `newId` and `now` are replaceable for tests. */
export interface SubscriptionRepositoryDeps {
  kv: KeyValueStore;
  feeds: FeedStateRepository;
  seen: SeenKeysRepository;
  recent: RecentItemsRepository;
  outbox: OutboxRepository;
  now: () => number;
  newId?: () => string;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random 10-character base62 id (about 59 bits) from the system's secure random source. */
export function newSubscriptionId(length = 10): string {
  let id = '';
  while (id.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
      if (byte < 248 && id.length < length) id += BASE62[byte % 62];
    }
  }
  return id;
}

function defined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function applyPatch(current: Subscription, patch: SubscriptionPatch): Subscription {
  const next: Subscription = { ...current };
  if (patch.paused === false) {
    delete next.paused;
    delete next.pausedReason;
    delete next.pausedAt;
  } else if (patch.paused === true) {
    next.paused = true;
  }
  if (patch.mentionRoleId === null) delete next.mentionRoleId;
  else if (patch.mentionRoleId !== undefined) next.mentionRoleId = patch.mentionRoleId;
  if (patch.pausedReason === null) delete next.pausedReason;
  else if (patch.pausedReason !== undefined) next.pausedReason = patch.pausedReason;
  if (patch.pausedAt === null) delete next.pausedAt;
  else if (patch.pausedAt !== undefined) next.pausedAt = patch.pausedAt;
  if (patch.lastPostAt === null) delete next.lastPostAt;
  else if (patch.lastPostAt !== undefined) next.lastPostAt = patch.lastPostAt;
  if (patch.postedCount !== undefined) next.postedCount = patch.postedCount;
  return next;
}

/** Builds the subscription repository. */
export function createSubscriptionRepository(deps: SubscriptionRepositoryDeps): SubscriptionRepository {
  const { kv, feeds, seen, recent, outbox, now } = deps;
  const newId = deps.newId ?? (() => newSubscriptionId());
  // Lock order, always: guild index → subscription → one feed's subscriber list → `feeds` index →
  // feed state / seen / recent / outbox. No code path holds two feeds' subscriber lists at once.

  const get = (id: string) => kv.get<Subscription>(storeKeys.subscription(id));

  async function loadGuild(guildId: string): Promise<{ ids: string[]; subs: Subscription[] }> {
    const ids = (await kv.get<string[]>(storeKeys.guildSubscriptions(guildId))) ?? [];
    const subs = (await kv.getMany<Subscription>(ids.map(storeKeys.subscription))).filter(defined);
    return { ids, subs };
  }

  async function writeGuildIndex(guildId: string, ids: string[]): Promise<void> {
    const key = storeKeys.guildSubscriptions(guildId);
    if (ids.length > 0) await kv.set(key, ids);
    else await kv.delete(key);
  }

  async function attachToFeed(feedUrl: string, id: string): Promise<void> {
    const key = storeKeys.feedSubscriptions(feedUrl);
    await kv.withLock(key, async () => {
      const ids = (await kv.get<string[]>(key)) ?? [];
      if (ids.includes(id)) return;
      await kv.set(key, [...ids, id]);
      if (ids.length === 0) await addToIndex(kv, storeKeys.feedIndex, feedUrl);
    });
  }

  async function detachFromFeed(feedUrl: string, id: string): Promise<void> {
    const key = storeKeys.feedSubscriptions(feedUrl);
    await kv.withLock(key, async () => {
      const ids = (await kv.get<string[]>(key)) ?? [];
      if (!ids.includes(id)) return;
      const rest = ids.filter((other) => other !== id);
      if (rest.length > 0) {
        await kv.set(key, rest);
        return;
      }
      // The feed's last subscriber left: unschedule it first, then forget what it had.
      await kv.delete(key);
      await removeFromIndex(kv, storeKeys.feedIndex, feedUrl);
      await feeds.remove(feedUrl);
      await seen.remove(feedUrl);
      await recent.remove(feedUrl);
    });
  }

  /** Removes a subscription whose server's lock the caller holds. */
  async function removeHoldingGuild(sub: Subscription, guildIds: string[]): Promise<void> {
    await kv.update<Subscription>(storeKeys.subscription(sub.id), () => undefined);
    await writeGuildIndex(
      sub.guildId,
      guildIds.filter((other) => other !== sub.id),
    );
    await outbox.clear(sub.id);
    await detachFromFeed(sub.feedUrl, sub.id);
  }

  async function uniqueId(): Promise<string> {
    for (;;) {
      const id = newId();
      if ((await get(id)) === undefined) return id;
    }
  }

  const repository: SubscriptionRepository = {
    create(input, { maxPerGuild }) {
      return kv.withLock(storeKeys.guildSubscriptions(input.guildId), async () => {
        const { subs } = await loadGuild(input.guildId);
        const duplicate = subs.find((s) => s.channelId === input.channelId && s.feedUrl === input.feedUrl);
        if (duplicate) throw new DuplicateSubscriptionError(duplicate.id, input.channelId, input.feedUrl);
        if (subs.length >= maxPerGuild) throw new SubscriptionLimitError(input.guildId, maxPerGuild);
        const sub: Subscription = {
          id: await uniqueId(),
          guildId: input.guildId,
          channelId: input.channelId,
          feedUrl: input.feedUrl,
          ...(input.mentionRoleId ? { mentionRoleId: input.mentionRoleId } : {}),
          createdBy: input.createdBy,
          createdAt: now(),
          postedCount: 0,
        };
        // Record, then server index (this is when /feed list shows it), then the feed's list and the
        // `feeds` index (when the scheduler sees it). Ids the index named but whose record is
        // gone (a crash mid-removal) are dropped here.
        await kv.set(storeKeys.subscription(sub.id), sub);
        await writeGuildIndex(input.guildId, [...subs.map((s) => s.id), sub.id]);
        await attachToFeed(sub.feedUrl, sub.id);
        return sub;
      });
    },

    get,

    async getForGuild(guildId, id) {
      const sub = await get(id);
      return sub?.guildId === guildId ? sub : undefined;
    },

    async listByGuild(guildId) {
      return (await loadGuild(guildId)).subs;
    },

    peekByFeed(feedUrl) {
      const ids = kv.peek<string[]>(storeKeys.feedSubscriptions(feedUrl));
      if (ids === NOT_IN_MEMORY) return NOT_IN_MEMORY;
      const subscriptions: Subscription[] = [];
      for (const id of ids ?? []) {
        const subscription = kv.peek<Subscription>(storeKeys.subscription(id));
        if (subscription === NOT_IN_MEMORY) return NOT_IN_MEMORY;
        if (subscription !== undefined) subscriptions.push(subscription);
      }
      return subscriptions;
    },

    async listByFeed(feedUrl) {
      const ids = (await kv.get<string[]>(storeKeys.feedSubscriptions(feedUrl))) ?? [];
      if (ids.length === 1 && ids[0] !== undefined) {
        // Most feeds have one subscriber, and this runs on every check.
        const only = await kv.get<Subscription>(storeKeys.subscription(ids[0]));
        return only ? [only] : [];
      }
      return (await kv.getMany<Subscription>(ids.map(storeKeys.subscription))).filter(defined);
    },

    update(id, patch) {
      return kv.update<Subscription>(storeKeys.subscription(id), (current) => {
        if (current === undefined) return undefined;
        return applyPatch(current, typeof patch === 'function' ? patch(current) : patch);
      });
    },

    async pauseAll(guildId, scope, reason) {
      const at = now();
      const paused: Subscription[] = [];
      for (const sub of await repository.listByGuild(guildId)) {
        if (sub.paused || (scope.channelId !== undefined && sub.channelId !== scope.channelId)) continue;
        let pausedNow = false;
        const updated = await repository.update(sub.id, (current) => {
          if (current.paused) return {};
          pausedNow = true;
          return { paused: true, pausedAt: at, pausedReason: reason };
        });
        if (updated && pausedNow) paused.push(updated);
      }
      return paused;
    },

    remove(guildId, id) {
      return kv.withLock(storeKeys.guildSubscriptions(guildId), async () => {
        const sub = await get(id);
        if (sub?.guildId !== guildId) return undefined;
        const ids = (await kv.get<string[]>(storeKeys.guildSubscriptions(guildId))) ?? [];
        await removeHoldingGuild(sub, ids);
        return sub;
      });
    },

    async moveFeed(oldUrl, newUrl) {
      if (oldUrl === newUrl) return 0;
      let ids = (await kv.get<string[]>(storeKeys.feedSubscriptions(oldUrl))) ?? [];
      if (ids.length === 0) return 0;

      // Give the new URL everything the old one knew before any subscriber moves, so a crash
      // part-way leaves both URLs usable and the move can simply be repeated.
      const oldState = await feeds.get(oldUrl);
      if (oldState) await feeds.ensure(newUrl, { ...oldState, url: newUrl });
      const oldSeen = await seen.get(oldUrl);
      if (oldSeen.size > 0) {
        const newSeen = await seen.get(newUrl);
        await seen.add(newUrl, [...oldSeen], oldSeen.size + newSeen.size);
      }
      const oldRecent = await recent.get(oldUrl);
      if (oldRecent.length > 0) await recent.add(newUrl, oldRecent);

      let moved = 0;
      // Subscriptions created while moving land on the old list; go round until it is empty.
      for (let round = 0; ids.length > 0 && round < 5; round++) {
        for (const id of ids) {
          const sub = await get(id);
          if (!sub) {
            await detachFromFeed(oldUrl, id);
            continue;
          }
          await kv.withLock(storeKeys.guildSubscriptions(sub.guildId), async () => {
            const current = await get(id);
            if (current?.feedUrl !== oldUrl) return;
            const { ids: guildIds, subs } = await loadGuild(current.guildId);
            const twin = subs.some((s) => s.channelId === current.channelId && s.feedUrl === newUrl);
            if (twin) {
              await removeHoldingGuild(current, guildIds);
              return;
            }
            await kv.update<Subscription>(storeKeys.subscription(id), (s) => s && { ...s, feedUrl: newUrl });
            await attachToFeed(newUrl, id);
            await detachFromFeed(oldUrl, id);
            moved++;
          });
        }
        ids = (await kv.get<string[]>(storeKeys.feedSubscriptions(oldUrl))) ?? [];
      }
      return moved;
    },
  };
  return repository;
}
