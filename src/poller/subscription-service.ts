import { UserFacingError } from '../errors';
import { InvalidFeedUrlError } from '../feeds/errors';
import { escapeDiscordText } from '../feeds/html-to-markdown';
import { loadTypedUrl } from '../feeds/load-feed';
import type { Feed, FeedItem, FeedSource, ParsedFeed } from '../feeds/types';
import {
  DuplicateSubscriptionError,
  MIN_SEEN_CAPACITY,
  SubscriptionLimitError,
  uncheckedFeedState,
  type FeedState,
  type Store,
  type Subscription,
} from '../store';
import type { ComposeAnnouncement, DeliveryQueue } from './feed-checker';
import { afterParsedFetch, MAX_POSTS_PER_CHECK } from './feed-checker';
import { diffItems } from './diff';
import { computeNextCheck } from './interval';
import type { Scheduler } from './scheduler';

/** Most items a new subscription may ask to have posted straight away. */
export const MAX_BACKFILL = 10;

/** What `/feed add` asks for. */
export interface SubscribeRequest {
  guildId: string;
  channelId: string;
  url: string;
  backfill: number;
  mentionRoleId: string | null;
  createdBy: string;
}

/** What `/feed add` reports back. */
export interface SubscribeResult {
  subscription: Subscription;
  feed: Feed;
  /** The newest item of the feed, or null when it has none. */
  latest: FeedItem | null;
  /** How many items were queued for posting now. */
  backfilled: number;
}

/** A subscription together with its feed's health, for `/feed list` and `/feed status`. */
export interface SubscriptionView {
  subscription: Subscription;
  feed: FeedState | undefined;
}

/** The outcome of pausing or resuming: the subscription now, and whether anything changed. */
export interface SubscriptionChange extends SubscriptionView {
  /** False when it was already paused (for pause) or not paused (for resume). */
  changed: boolean;
}

/** The subscription API the slash commands call; every method is scoped to one server. */
export interface SubscriptionService {
  subscribe(request: SubscribeRequest): Promise<SubscribeResult>;
  unsubscribe(guildId: string, id: string): Promise<SubscriptionView>;
  /** Pauses; `reason` is shown in `/feed list` and `/feed status`. */
  pause(guildId: string, id: string, reason?: string): Promise<SubscriptionChange>;
  /** Resumes; posts published while paused are skipped (they were never queued). */
  resume(guildId: string, id: string): Promise<SubscriptionChange>;
  list(guildId: string, channelId?: string | null): Promise<SubscriptionView[]>;
  status(guildId: string, id: string): Promise<SubscriptionView>;
  /** Fetches a feed (following discovery) without subscribing, for `/feed preview`. */
  preview(url: string): Promise<ParsedFeed>;
}

/** What the service needs, passed in by the composition root. */
export interface SubscriptionServiceDeps {
  store: Store;
  source: FeedSource;
  scheduler: Pick<Scheduler, 'schedule' | 'unschedule'>;
  delivery: DeliveryQueue;
  composeAnnouncement: ComposeAnnouncement;
  policy: { baseSeconds: number; minSeconds: number; maxFeedsPerGuild: number };
  now?: () => number;
  random?: () => number;
}

/** Builds the subscription service. */
export function createSubscriptionService(deps: SubscriptionServiceDeps): SubscriptionService {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { store, policy } = deps;

  async function find(guildId: string, id: string): Promise<Subscription> {
    const subscription = await store.subscriptions.getForGuild(guildId, id);
    // Another server's id is answered exactly like an unknown one.
    if (!subscription) {
      throw new UserFacingError(
        `This server has no feed “${id}”. Pick one from the list that appears as you type, or see them all with \`/feed list\`.`,
      );
    }
    return subscription;
  }

  async function view(subscription: Subscription): Promise<SubscriptionView> {
    return { subscription, feed: await store.feeds.get(subscription.feedUrl) };
  }

  async function load(url: string): Promise<ParsedFeed> {
    return (await loadTypedUrl(deps.source, checkedUrl(url))).parsed;
  }

  return {
    async subscribe(request) {
      const existingCount = (await store.subscriptions.listByGuild(request.guildId)).length;
      if (existingCount >= policy.maxFeedsPerGuild) throw limitError(policy.maxFeedsPerGuild);

      const loaded = await loadTypedUrl(deps.source, checkedUrl(request.url));
      const { feed, items } = loaded.parsed;
      const feedUrl = new URL(feed.url).href;
      feed.url = feedUrl;
      const at = now();

      // The state exists before the subscription does, so a crash in between never leaves a
      // subscribed feed that nothing schedules.
      const known = await store.feeds.get(feedUrl);
      const next = computeNextCheck({
        now: at,
        baseSeconds: policy.baseSeconds,
        minSeconds: policy.minSeconds,
        ttlSeconds: feed.ttlSeconds,
        cacheControl: loaded.response.headers.cacheControl,
        expires: loaded.response.headers.expires,
        retryAfter: loaded.response.headers.retryAfter,
        random,
      });
      const state = await store.feeds.ensure(feedUrl, () =>
        uncheckedFeedState({
          url: feedUrl,
          title: feed.title,
          link: feed.link,
          nextCheckAt: next.nextCheckAt,
          intervalSeconds: next.intervalSeconds,
        }),
      );

      let subscription: Subscription;
      try {
        subscription = await store.subscriptions.create(
          {
            guildId: request.guildId,
            channelId: request.channelId,
            feedUrl,
            mentionRoleId: request.mentionRoleId,
            createdBy: request.createdBy,
          },
          { maxPerGuild: policy.maxFeedsPerGuild },
        );
      } catch (error) {
        if (!known && (await store.subscriptions.listByFeed(feedUrl)).length === 0)
          await store.feeds.remove(feedUrl);
        if (error instanceof DuplicateSubscriptionError) {
          throw new UserFacingError(
            `<#${request.channelId}> already follows **${escapeDiscordText(feed.title)}** (subscription \`${error.existingId}\`), so nothing was changed. \`/feed list\` shows this server’s feeds.`,
            { cause: error },
          );
        }
        if (error instanceof SubscriptionLimitError) throw limitError(error.limit, error);
        throw error;
      }

      const seeding = state.lastSuccessAt === null;
      const seen = seeding ? new Set<string>() : await store.seen.get(feedUrl);
      const backfill = newestFirst(items)
        .filter((item) => seeding || item.keys.some((key) => seen.has(key)))
        .slice(0, Math.max(0, Math.min(request.backfill, MAX_BACKFILL)))
        .reverse();
      if (backfill.length > 0) {
        await store.outbox.enqueue(
          subscription.id,
          backfill.map((item) => ({
            itemKey: item.id,
            payload: deps.composeAnnouncement(item, feed, subscription),
          })),
        );
      }
      if (seeding) {
        // The subscribe fetch is the feed's first fetch: everything in it counts as handled.
        const baseline = diffItems({ items, seen, firstFetch: true, newestSeenPublished: null, now: at });
        await store.seen.add(feedUrl, baseline.allKeys, Math.max(MIN_SEEN_CAPACITY, 3 * items.length));
        await store.recent.add(feedUrl, items);
        const seeded = await store.feeds.update(feedUrl, (current) =>
          afterParsedFetch(current, {
            feed,
            response: loaded.response,
            bodyHash: loaded.bodyHash,
            at,
            next,
            newestPublished: baseline.newestPublished,
            rebaselined: false,
          }),
        );
        deps.scheduler.schedule(feedUrl, seeded?.nextCheckAt ?? next.nextCheckAt);
      }
      if (backfill.length > 0) deps.delivery.release(subscription.id, backfill.length);
      return { subscription, feed, latest: newestFirst(items)[0] ?? null, backfilled: backfill.length };
    },

    async unsubscribe(guildId, id) {
      const subscription = await find(guildId, id);
      const feed = await store.feeds.get(subscription.feedUrl);
      const removed = await store.subscriptions.remove(guildId, id);
      if (!removed) throw new UserFacingError('That subscription was already removed.');
      if ((await store.subscriptions.listByFeed(subscription.feedUrl)).length === 0) {
        deps.scheduler.unschedule(subscription.feedUrl);
      }
      return { subscription: removed, feed };
    },

    async pause(guildId, id, reason = 'Paused with `/feed pause`.') {
      const subscription = await find(guildId, id);
      if (subscription.paused) return { ...(await view(subscription)), changed: false };
      const updated = await store.subscriptions.update(subscription.id, {
        paused: true,
        pausedAt: now(),
        pausedReason: reason,
      });
      return { ...(await view(updated ?? subscription)), changed: true };
    },

    async resume(guildId, id) {
      const subscription = await find(guildId, id);
      if (!subscription.paused) return { ...(await view(subscription)), changed: false };
      const updated = await store.subscriptions.update(subscription.id, { paused: false });
      // Posts that were already queued before the pause (say, when the bot lost a permission)
      // go out now; anything published while paused was never queued.
      deps.delivery.release(subscription.id, MAX_POSTS_PER_CHECK);
      return { ...(await view(updated ?? subscription)), changed: true };
    },

    async list(guildId, channelId) {
      const subscriptions = await store.subscriptions.listByGuild(guildId);
      const chosen = channelId ? subscriptions.filter((s) => s.channelId === channelId) : subscriptions;
      return Promise.all(chosen.map(view));
    },

    async status(guildId, id) {
      return view(await find(guildId, id));
    },

    preview: load,
  };
}

/** Items newest first: by date when dated, else in document order (feeds list newest first). */
export function newestFirst<T extends Pick<FeedItem, 'published'>>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, index, time: item.published ? Date.parse(item.published) : NaN }))
    .sort((a, b) => {
      const aDated = !Number.isNaN(a.time);
      const bDated = !Number.isNaN(b.time);
      if (aDated && bDated && a.time !== b.time) return b.time - a.time;
      if (aDated !== bDated) return aDated ? -1 : 1;
      return a.index - b.index;
    })
    .map(({ item }) => item);
}

/**
 * Refuses what is not an http(s) URL before any network activity. An address typed without a
 * scheme (`example.org/feed`, `example.org:8080/feed`) is taken as https.
 */
function checkedUrl(raw: string): string {
  const trimmed = raw.trim().replace(/^<(.*)>$/, '$1');
  // "host:8080/…" is a host and a port, not a scheme called "host".
  const hasScheme = /^[a-z][a-z0-9+.-]*:(?!\d)/i.test(trimmed);
  let url: URL;
  try {
    url = new URL(hasScheme ? trimmed : `https://${trimmed}`);
  } catch (error) {
    throw new InvalidFeedUrlError(raw, `"${raw}" is not a web address.`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidFeedUrlError(
      raw,
      `Herald only follows http:// and https:// addresses, not ${url.protocol} ones.`,
    );
  }
  return url.href;
}

function limitError(limit: number, cause?: unknown): UserFacingError {
  return new UserFacingError(
    `This server already has ${limit} subscriptions, the most it may have, so nothing was added. Remove one with \`/feed remove\` first (\`/feed list\` shows them all).`,
    cause === undefined ? undefined : { cause },
  );
}
