import type { Logger } from '../logger';
import type { OutboxEntry, Store, Subscription } from '../store';
import { DeliveryError, type Announcer } from './announcer';
import type { MessagePayload } from './render';

/** What the poller stores in the outbox for one post: the message and its minimal fallback. */
export interface QueuedAnnouncement {
  message: MessagePayload;
  /** Sent instead when Discord refuses `message` with a 400, so the post is not lost. */
  fallback?: MessagePayload;
  /**
   * A message about the feed (the failure notice) rather than one of its items: delivered the same
   * way, but not counted in the subscription's posted items or last post time, which `/feed
   * status` shows as the feed's health.
   */
  notice?: boolean;
}

/** Retry delays for 5xx and timeouts (429s are waited out inside @discordjs/rest). */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/** Everything delivery needs, passed in by the composition root. */
export interface DelivererDeps {
  store: Pick<Store, 'outbox' | 'subscriptions'>;
  announcer: Announcer;
  logger: Logger;
  retry?: RetryPolicy;
  now?: () => number;
}

/** Drains the outbox to Discord: each subscription in order, each post once. */
export interface Deliverer {
  /** Allows up to `count` posts of the subscription now and starts draining it. */
  release(subscriptionId: string, count: number): void;
  /** After a restart: releases one check's worth for every subscription with pending posts. */
  resumePending(perSubscription: number): Promise<void>;
  /** Resolves when nothing is being sent (pending retries may still be scheduled). */
  idle(): Promise<void>;
  /** Stops starting posts and waits for the ones in flight, at most `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

const DEFAULT_RETRY: RetryPolicy = { baseMs: 2_000, maxMs: 10 * 60_000 };

/**
 * Builds the deliverer. Per subscription, posts go strictly oldest first, one at a time; across
 * subscriptions they run in parallel and @discordjs/rest keeps each channel's rate limit. A post
 * is removed from the outbox only after Discord accepted it; a crash before that re-sends it with
 * the same nonce, which Discord answers with the message it already has.
 */
export function createDeliverer(deps: DelivererDeps): Deliverer {
  const now = deps.now ?? Date.now;
  const retry = deps.retry ?? DEFAULT_RETRY;
  const { store, announcer, logger } = deps;
  const allowance = new Map<string, number>();
  const draining = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const retryTimers = new Map<string, NodeJS.Timeout>();
  let stopped = false;

  function release(subscriptionId: string, count: number): void {
    if (stopped) return;
    allowance.set(subscriptionId, Math.max(allowance.get(subscriptionId) ?? 0, count));
    kick(subscriptionId);
  }

  function kick(subscriptionId: string): void {
    if (stopped) return;
    if (draining.has(subscriptionId)) {
      again.add(subscriptionId);
      return;
    }
    draining.set(subscriptionId, drainGuarded(subscriptionId));
  }

  /** Drains, logs what should never happen, and drains again when released meanwhile. */
  async function drainGuarded(subscriptionId: string): Promise<void> {
    try {
      await drain(subscriptionId);
    } catch (error) {
      logger.error({ err: error, subscriptionId }, 'delivery failed unexpectedly');
    } finally {
      draining.delete(subscriptionId);
      if (again.delete(subscriptionId)) kick(subscriptionId);
    }
  }

  async function drain(subscriptionId: string): Promise<void> {
    while (!stopped && (allowance.get(subscriptionId) ?? 0) > 0) {
      // The queue first: after nearly every check it is empty, and then nothing else is needed.
      const [entry] = await store.outbox.list(subscriptionId);
      if (!entry) {
        allowance.delete(subscriptionId);
        return;
      }
      const subscription = await store.subscriptions.get(subscriptionId);
      if (!subscription) {
        await store.outbox.clear(subscriptionId);
        allowance.delete(subscriptionId);
        return;
      }
      if (subscription.paused) return;
      const wait = entry.nextAttemptAt - now();
      if (wait > 0) {
        retryLater(subscriptionId, wait);
        return;
      }
      const sent = await send(subscription, entry);
      if (!sent) return;
      allowance.set(subscriptionId, (allowance.get(subscriptionId) ?? 1) - 1);
    }
  }

  /** Sends one entry; true when it is done with (posted or given up), false to stop draining. */
  async function send(subscription: Subscription, entry: OutboxEntry): Promise<boolean> {
    const { message, fallback, notice } = entry.payload as QueuedAnnouncement;
    try {
      await post(subscription, entry, message);
    } catch (error) {
      if (!(error instanceof DeliveryError)) throw error;
      if (error.kind === 'rejected-payload' && fallback) {
        logger.warn(
          { subscriptionId: subscription.id, itemKey: entry.itemKey, err: error.message },
          'embed refused; sending the minimal one',
        );
        try {
          await post(subscription, entry, fallback);
        } catch (fallbackError) {
          return handleFailure(subscription, entry, fallbackError);
        }
      } else {
        return handleFailure(subscription, entry, error);
      }
    }
    await store.outbox.remove(subscription.id, entry.itemKey);
    // A failure notice is no sign of life from the feed: counting it would make a broken feed
    // look as if it had just posted.
    if (notice) return true;
    await store.subscriptions.update(subscription.id, (current) => ({
      lastPostAt: now(),
      postedCount: current.postedCount + 1,
    }));
    return true;
  }

  async function post(
    subscription: Subscription,
    entry: OutboxEntry,
    message: MessagePayload,
  ): Promise<void> {
    await announcer.post(subscription.channelId, { ...message, nonce: entry.nonce, enforce_nonce: true });
  }

  async function handleFailure(
    subscription: Subscription,
    entry: OutboxEntry,
    error: unknown,
  ): Promise<boolean> {
    if (!(error instanceof DeliveryError)) throw error;
    switch (error.kind) {
      case 'forbidden':
      case 'channel-gone':
        await pauseChannel(subscription, error);
        return false;
      case 'rejected-payload':
        // Even the minimal embed was refused: nothing we send for this item can succeed.
        logger.error(
          { subscriptionId: subscription.id, itemKey: entry.itemKey, err: error.message },
          'post refused by Discord; dropped',
        );
        await store.outbox.remove(subscription.id, entry.itemKey);
        return true;
      case 'transient': {
        const attempts = entry.attempts + 1;
        const delay = Math.min(retry.maxMs, retry.baseMs * 2 ** (attempts - 1));
        await store.outbox.reschedule(subscription.id, entry.itemKey, {
          attempts,
          nextAttemptAt: now() + delay,
        });
        logger.warn(
          { subscriptionId: subscription.id, attempts, delayMs: delay, err: error.message },
          'post failed; will retry',
        );
        retryLater(subscription.id, delay);
        return false;
      }
    }
  }

  /** Pauses every subscription posting to the channel, so no further request goes there. */
  async function pauseChannel(subscription: Subscription, error: DeliveryError): Promise<void> {
    const paused = await store.subscriptions.pauseAll(
      subscription.guildId,
      { channelId: subscription.channelId },
      error.message,
    );
    for (const affected of paused) allowance.delete(affected.id);
    logger.warn(
      {
        channelId: subscription.channelId,
        status: error.status,
        code: error.code,
        paused: paused.map((s) => s.id),
      },
      'channel refused posts; its subscriptions are paused',
    );
  }

  function retryLater(subscriptionId: string, delayMs: number): void {
    if (stopped || retryTimers.has(subscriptionId)) return;
    const timer = setTimeout(() => {
      retryTimers.delete(subscriptionId);
      kick(subscriptionId);
    }, delayMs);
    timer.unref();
    retryTimers.set(subscriptionId, timer);
  }

  return {
    release,
    async resumePending(perSubscription) {
      for (const subscriptionId of await store.outbox.pendingSubscriptionIds())
        release(subscriptionId, perSubscription);
    },
    async idle() {
      while (draining.size > 0) await Promise.allSettled([...draining.values()]);
    },
    async stop(timeoutMs) {
      stopped = true;
      for (const timer of retryTimers.values()) clearTimeout(timer);
      retryTimers.clear();
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...draining.values()]),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
    },
  };
}
