import { FeedError, FeedHttpError, FeedTimeoutError } from '../feeds/errors';
import { fetchChanges, type FetchedChanges } from '../feeds/load-feed';
import type { Feed, FeedItem, FeedSource, FetchedOutcome } from '../feeds/types';
import { hostOf } from '../feeds/url-host';
import {
  MIN_SEEN_CAPACITY,
  NOT_IN_MEMORY,
  type FeedHistory,
  type FeedState,
  type Store,
  type Subscription,
} from '../store';
import { failureBackoff, GONE_STATUSES, shouldNotifyFailure, shouldPauseGoneFeed } from './backoff';
import type { ConcurrencyGate } from './concurrency-gate';
import { diffItems } from './diff';
import { computeNextCheck, parseRetryAfter, type NextCheck } from './interval';

/** At most this many posts per subscription per check; the rest wait for later checks. */
export const MAX_POSTS_PER_CHECK = 5;

/** Consecutive timeouts after which a whole host is given a rest. */
const HOST_TIMEOUTS_BEFORE_BACKOFF = 3;

/** Hands queued posts to delivery; the poller never talks to Discord itself. */
export interface DeliveryQueue {
  /** Lets delivery post up to `count` queued items of the subscription now (one check's worth). */
  release(subscriptionId: string, count: number): void;
}

/** Builds the outbox payload for an item (the composition root passes the Discord renderer). */
export type ComposeAnnouncement = (item: FeedItem, feed: Feed, subscription: Subscription) => unknown;

/** Builds the one-time "this feed keeps failing" notice for a subscription's channel. */
export type ComposeFailureNotice = (state: FeedState, subscription: Subscription) => unknown;

/** Logging the checker does; a pino logger fits. */
export interface CheckerLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/** Timing and thresholds of checks, from the configuration (tests shorten them). */
export interface CheckPolicy {
  baseSeconds: number;
  minSeconds: number;
  failureNoticeThreshold?: number;
  failureNoticeSpanMs?: number;
  gonePauseAfterMs?: number;
}

/** Everything a check needs, passed in by the composition root. */
export interface FeedCheckerDeps {
  store: Store;
  source: FeedSource;
  gate: ConcurrencyGate;
  delivery: DeliveryQueue;
  composeAnnouncement: ComposeAnnouncement;
  composeFailureNotice: ComposeFailureNotice;
  policy: CheckPolicy;
  logger: CheckerLogger;
  now?: () => number;
  random?: () => number;
}

/** A fetched body that differs from the last one, still to be parsed. */
type ChangedBody = Extract<FetchedChanges, { kind: 'changed' }>;

/** What recording a changed body leaves for logging and the scheduler. */
interface RecordSummary {
  queued: number;
  fresh: number;
  nextCheckAt: number;
  rebaselined: boolean;
  reason?: string;
}

/** What one check did, for the scheduler and for tests. */
export type CheckResult =
  | { outcome: 'removed' }
  | { outcome: 'unchanged' | 'updated' | 'failed'; nextCheckAt: number; url: string; queued: number };

/** How a queued check ended: its result once its writes are committed, or what went wrong. */
export type CheckSettled = PromiseSettledResult<CheckResult>;

/** Checks one feed: fetch → parse → diff → outbox → seen keys → state, in that order. */
export interface FeedChecker {
  /**
   * Queues a check of `url` behind the gate and calls `done` once it is over. A callback rather
   * than a promise: when thousands of feeds fall due at once, a waiting check is then one small
   * closure, not a chain of suspended async functions (measured: those were a third of what a
   * warm cycle promoted to V8's old generation).
   */
  queue(url: string, done: (url: string, settled: CheckSettled) => void): void;
}

/** Builds the checker that the scheduler calls for every due feed. */
export function createFeedChecker(deps: FeedCheckerDeps): FeedChecker {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { store, policy, logger } = deps;
  const hostTimeouts = new Map<string, number>();

  /**
   * The whole check holds the feed's slot in the gate, store reads included: when thousands of
   * feeds fall due at once, waiting checks are then only queued closures, not thousands of store
   * queries and parsed feeds held in memory (measured by the bench: 880 → ~400 MB at 20,000 feeds).
   */
  function queue(url: string, done: (url: string, settled: CheckSettled) => void): void {
    const host = hostOf(url);
    deps.gate.enqueue(host, () => startCheck(url, host, done));
  }

  /** Runs a check that got its slot; the slot is given back when the returned promise settles. */
  function startCheck(
    url: string,
    host: string,
    done: (url: string, settled: CheckSettled) => void,
  ): Promise<unknown> {
    const slot = checkHoldingSlot(url, host);
    const fail = (reason: unknown) => done(url, { status: 'rejected', reason });
    slot.then(({ result, committed }) => {
      if (!committed) {
        done(url, { status: 'fulfilled', value: result });
        return;
      }
      committed.then(() => done(url, { status: 'fulfilled', value: result }), fail);
    }, fail);
    return slot;
  }

  /**
   * The check, holding its slot. An unchanged feed's one write is waited for after the slot is
   * given back (`committed`): nothing else of the check depends on it, and holding slots through
   * commits left the event loop idle part of the bench's warm cycles. Changed and failed feeds
   * write in order (outbox, seen keys, state) within the slot.
   */
  async function checkHoldingSlot(
    url: string,
    host: string,
  ): Promise<{ result: CheckResult; committed?: Promise<unknown> }> {
    // From memory when the store has the records there, as it does for every feed after a start.
    let state = store.feeds.peek(url);
    if (state === NOT_IN_MEMORY) state = await store.feeds.get(url);
    if (!state) return { result: { outcome: 'removed' } };
    let subscriptions = store.subscriptions.peekByFeed(url);
    if (subscriptions === NOT_IN_MEMORY) subscriptions = await store.subscriptions.listByFeed(url);
    if (subscriptions.length === 0) return { result: { outcome: 'removed' } };

    let fetched: FetchedChanges;
    try {
      fetched = await fetchChanges(deps.source, url, {
        validators: { etag: state.etag ?? null, lastModified: state.lastModified ?? null },
        previousBodyHash: state.bodyHash ?? null,
      });
    } catch (error) {
      if (!(error instanceof FeedError)) throw error;
      return { result: await recordFailure(state, subscriptions, error, host) };
    }
    hostTimeouts.delete(host);
    const at = now();
    const active = subscriptions.filter((subscription) => !subscription.paused);

    if (fetched.kind !== 'changed') {
      const { headers, status } = fetched.response;
      const next = computeNextCheck({
        now: at,
        baseSeconds: policy.baseSeconds,
        minSeconds: policy.minSeconds,
        ttlSeconds: state.ttlSeconds ?? null,
        cacheControl: headers.cacheControl,
        expires: headers.expires,
        retryAfter: headers.retryAfter,
        random,
      });
      const unknownBacklog = releaseKnownBacklog(active);
      if (unknownBacklog) await releaseBacklog(unknownBacklog);
      // The one write an unchanged feed costs: its check times, alone in their small record unless
      // the validators moved or the feed was failing until now. Issued last, so nothing is awaited
      // before the caller takes charge of its outcome.
      const check = {
        lastCheckedAt: at,
        lastSuccessAt: at,
        lastStatus: status,
        nextCheckAt: next.nextCheckAt,
        intervalSeconds: next.intervalSeconds,
      };
      const validatorsKept =
        (!headers.etag || headers.etag === state.etag) &&
        (!headers.lastModified || headers.lastModified === state.lastModified);
      const committed =
        validatorsKept && isHealthy(state)
          ? store.feeds.recordCheck(url, check)
          : store.feeds.update(url, (current) => {
              const updated = healthy({ ...current, ...check });
              if (headers.etag) updated.etag = headers.etag;
              if (headers.lastModified) updated.lastModified = headers.lastModified;
              return updated;
            });
      logger.debug({ url, status, kind: fetched.kind }, 'feed unchanged');
      return { result: { outcome: 'unchanged', nextCheckAt: next.nextCheckAt, url, queued: 0 }, committed };
    }
    try {
      return { result: await recordChanged(url, state, active, fetched, at) };
    } catch (error) {
      // The body is not a feed (or not one we can read): a failed check like any other.
      if (!(error instanceof FeedError)) throw error;
      return { result: await recordFailure(state, subscriptions, error, host) };
    }
  }

  /**
   * A changed body: parsed and recorded holding the feed's history, which is read before parsing so
   * that the parsed feed lives only while it is being recorded (it then dies young, instead of
   * being promoted while the check waits for the store).
   */
  async function recordChanged(
    url: string,
    state: FeedState,
    active: Subscription[],
    fetched: ChangedBody,
    at: number,
  ): Promise<CheckResult> {
    const recorded = await store.history.hold(url, async (history) => {
      const { committed, summary } = await parseAndQueueWrites(url, state, active, fetched, at, history);
      await committed;
      return summary;
    });
    const { queued, nextCheckAt } = recorded;
    if (recorded.rebaselined)
      logger.info({ url, reason: recorded.reason }, 'feed re-keyed its items; re-baselined');
    if (recorded.fresh > 0) logger.info({ url, fresh: recorded.fresh, queued }, 'new items');

    releaseAll(active);
    const { permanentUrl } = fetched.response;
    if (permanentUrl && permanentUrl !== url) {
      const moved = await store.subscriptions.moveFeed(url, permanentUrl);
      logger.info({ from: url, to: permanentUrl, moved }, 'feed moved permanently');
      return { outcome: 'updated', nextCheckAt, url: permanentUrl, queued };
    }
    return { outcome: 'updated', nextCheckAt, url, queued };
  }

  /**
   * Parse → diff → outbox → seen keys and recent items → state. Order matters for exactly-once: the
   * outbox is durable before the keys are marked seen, so a crash in between finds the items again
   * and the idempotent enqueue keeps one copy of each; the state (with the new body hash) goes into
   * the same commit as the keys, after them. Only the summary outlives this function.
   */
  async function parseAndQueueWrites(
    url: string,
    state: FeedState,
    active: Subscription[],
    fetched: ChangedBody,
    at: number,
    history: FeedHistory,
  ): Promise<{ committed: Promise<unknown>; summary: RecordSummary }> {
    const { response, bodyHash } = fetched;
    const { feed, items } = await fetched.parse();
    const firstFetch = history.seen.size === 0 && state.lastSuccessAt === null;
    const diff = diffItems({
      items,
      seen: history.seen,
      firstFetch,
      newestSeenPublished: state.newestPublished ?? null,
      now: at,
    });

    let queued = 0;
    if (diff.fresh.length > 0) {
      for (const subscription of active) {
        queued += await store.outbox.enqueue(
          subscription.id,
          diff.fresh.map((item) => ({
            itemKey: item.id,
            payload: deps.composeAnnouncement(item, feed, subscription),
          })),
        );
      }
    }
    const next = computeNextCheck({
      now: at,
      baseSeconds: policy.baseSeconds,
      minSeconds: policy.minSeconds,
      ttlSeconds: feed.ttlSeconds,
      cacheControl: response.headers.cacheControl,
      expires: response.headers.expires,
      retryAfter: response.headers.retryAfter,
      random,
    });
    const committed = Promise.all([
      history.record(diff.allKeys, Math.max(MIN_SEEN_CAPACITY, 3 * items.length), items),
      store.feeds.update(url, (current) =>
        afterParsedFetch(current, {
          feed,
          response,
          bodyHash,
          at,
          next,
          newestPublished: diff.newestPublished,
          rebaselined: diff.rebaselined,
        }),
      ),
    ]);
    const summary: RecordSummary = {
      queued,
      fresh: diff.fresh.length,
      nextCheckAt: next.nextCheckAt,
      rebaselined: diff.rebaselined,
      ...(diff.reason !== undefined ? { reason: diff.reason } : {}),
    };
    return { committed, summary };
  }

  async function recordFailure(
    state: FeedState,
    subscriptions: Subscription[],
    error: FeedError,
    host: string,
  ): Promise<CheckResult> {
    const at = now();
    const status = error instanceof FeedHttpError ? error.status : null;
    const retryAfter = error instanceof FeedHttpError ? error.retryAfter : null;
    const failures = state.consecutiveFailures + 1;
    const firstFailureAt = state.firstFailureAt ?? at;
    const goneSince = status !== null && GONE_STATUSES.has(status) ? (state.goneSince ?? at) : null;
    const next = failureBackoff({
      now: at,
      baseSeconds: policy.baseSeconds,
      minSeconds: policy.minSeconds,
      consecutiveFailures: failures,
      retryAfter,
      random,
    });
    backOffHostIfNeeded(host, error, status, retryAfter, at);

    const notify = shouldNotifyFailure({
      consecutiveFailures: failures,
      firstFailureAt,
      now: at,
      alreadyNotified: state.notifiedFailure ?? false,
      ...(policy.failureNoticeThreshold !== undefined ? { threshold: policy.failureNoticeThreshold } : {}),
      ...(policy.failureNoticeSpanMs !== undefined ? { spanMs: policy.failureNoticeSpanMs } : {}),
    });
    const updated = await store.feeds.update(state.url, (current) => {
      const failed: FeedState = {
        ...current,
        lastCheckedAt: at,
        consecutiveFailures: failures,
        firstFailureAt,
        lastError: { kind: error.kind, message: error.message },
        nextCheckAt: next.nextCheckAt,
        intervalSeconds: next.intervalSeconds,
      };
      setOrDelete(failed, 'lastStatus', status);
      setOrDelete(failed, 'goneSince', goneSince);
      if (notify) failed.notifiedFailure = true;
      return failed;
    });
    logger.warn({ url: state.url, failures, kind: error.kind, err: error.message }, 'feed check failed');

    const active = subscriptions.filter((subscription) => !subscription.paused);
    if (notify && updated) {
      // The notice goes through the outbox like a post, keyed by the failure run, so it is
      // delivered exactly once per run even across restarts.
      for (const subscription of active) {
        await store.outbox.enqueue(subscription.id, [
          { itemKey: `notice:${firstFailureAt}`, payload: deps.composeFailureNotice(updated, subscription) },
        ]);
      }
    }
    if (shouldPauseGoneFeed({ status, goneSince, now: at, ...pauseAfter() })) {
      for (const subscription of active) {
        await store.subscriptions.update(subscription.id, {
          paused: true,
          pausedAt: at,
          pausedReason: `The feed has answered HTTP ${status} for a week: it seems to be gone. Check the address, then remove it or /feed resume it.`,
        });
      }
      logger.warn({ url: state.url, status }, 'feed gone for a week; subscriptions paused');
    }
    releaseAll(active);
    return { outcome: 'failed', nextCheckAt: next.nextCheckAt, url: state.url, queued: 0 };
  }

  function pauseAfter(): { pauseAfterMs?: number } {
    return policy.gonePauseAfterMs !== undefined ? { pauseAfterMs: policy.gonePauseAfterMs } : {};
  }

  function backOffHostIfNeeded(
    host: string,
    error: FeedError,
    status: number | null,
    retryAfter: string | null,
    at: number,
  ): void {
    if ((status === 429 || status === 503) && retryAfter) {
      const seconds = parseRetryAfter(retryAfter, at);
      if (seconds !== null && seconds > 0) deps.gate.backOffHost(host, at + seconds * 1000);
      return;
    }
    if (error instanceof FeedTimeoutError) {
      const count = (hostTimeouts.get(host) ?? 0) + 1;
      hostTimeouts.set(host, count);
      if (count >= HOST_TIMEOUTS_BEFORE_BACKOFF) {
        deps.gate.backOffHost(host, at + policy.minSeconds * 1000);
        hostTimeouts.delete(host);
      }
    }
  }

  function releaseAll(active: Subscription[]): void {
    for (const subscription of active) deps.delivery.release(subscription.id, MAX_POSTS_PER_CHECK);
  }

  /**
   * After a check that found nothing new: lets out the next posts of subscriptions that still
   * have some waiting (see MAX_POSTS_PER_CHECK). Asking first spares delivery a wake-up for every
   * check of a feed with an empty queue, which is nearly all of them. Does it for the queues in
   * memory; returns the subscriptions whose queues must be read ({@link releaseBacklog}), or null.
   */
  function releaseKnownBacklog(active: Subscription[]): Subscription[] | null {
    let unknown: Subscription[] | null = null;
    for (const subscription of active) {
      const pending = store.outbox.peekPending(subscription.id);
      if (pending === NOT_IN_MEMORY) (unknown ??= []).push(subscription);
      else if (pending) deps.delivery.release(subscription.id, MAX_POSTS_PER_CHECK);
    }
    return unknown;
  }

  /** {@link releaseKnownBacklog} for queues that must be read from the database. */
  async function releaseBacklog(active: Subscription[]): Promise<void> {
    for (const subscription of active) {
      if (await store.outbox.hasPending(subscription.id)) {
        deps.delivery.release(subscription.id, MAX_POSTS_PER_CHECK);
      }
    }
  }

  return { queue };
}

/** What a successful, parsed fetch tells about a feed. */
export interface ParsedFetch {
  feed: Feed;
  response: FetchedOutcome;
  bodyHash: string;
  at: number;
  next: NextCheck;
  newestPublished: string | null;
  rebaselined: boolean;
}

/** A feed's state after a parsed fetch: title, validators, body hash, times, and health restored. */
export function afterParsedFetch(current: FeedState, fetch: ParsedFetch): FeedState {
  const { feed, response, at, next } = fetch;
  const updated: FeedState = healthy({
    ...current,
    title: feed.title,
    link: feed.link,
    bodyHash: fetch.bodyHash,
    lastCheckedAt: at,
    lastSuccessAt: at,
    lastStatus: response.status,
    nextCheckAt: next.nextCheckAt,
    intervalSeconds: next.intervalSeconds,
  });
  setOrDelete(updated, 'etag', response.headers.etag);
  setOrDelete(updated, 'lastModified', response.headers.lastModified);
  setOrDelete(updated, 'ttlSeconds', feed.ttlSeconds);
  setOrDelete(updated, 'newestPublished', fetch.newestPublished);
  if (fetch.rebaselined) updated.rebaselinedAt = at;
  return updated;
}

/** Whether a state carries no failure bookkeeping, so a successful check has none to clear. */
function isHealthy(state: FeedState): boolean {
  return (
    state.consecutiveFailures === 0 &&
    state.firstFailureAt === undefined &&
    state.lastError === undefined &&
    state.notifiedFailure === undefined &&
    state.goneSince === undefined
  );
}

/** Clears the failure bookkeeping of a state the caller just built, after a successful check. */
function healthy(state: FeedState): FeedState {
  state.consecutiveFailures = 0;
  // Only a feed that was failing has these; deleting changes a healthy state's shape for nothing.
  if (state.firstFailureAt !== undefined) delete state.firstFailureAt;
  if (state.lastError !== undefined) delete state.lastError;
  if (state.notifiedFailure !== undefined) delete state.notifiedFailure;
  if (state.goneSince !== undefined) delete state.goneSince;
  return state;
}

function setOrDelete<K extends keyof FeedState>(
  state: FeedState,
  key: K,
  value: Exclude<FeedState[K], undefined> | null | undefined,
): void {
  if (value === null || value === undefined) delete state[key];
  else state[key] = value;
}
