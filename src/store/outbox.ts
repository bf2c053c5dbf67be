import { createHash } from 'node:crypto';
import { addToIndex, removeFromIndex } from './id-lists';
import { NOT_IN_MEMORY, type KeyValueStore, type NotInMemory } from './key-value';
import { storeKeys } from './keys';

/** One pending post of one item to one subscription. Times are epoch ms. */
export interface OutboxEntry {
  /** The item's primary identity key; unique within a subscription's outbox. */
  itemKey: string;
  /** The Discord message body to send (plain JSON). */
  payload: unknown;
  attempts: number;
  nextAttemptAt: number;
  enqueuedAt: number;
  /** Sent with `enforce_nonce`, so a retry after a crash cannot post twice. */
  nonce: string;
}

/** What the poller hands over; the rest is filled in. */
export interface NewOutboxEntry {
  itemKey: string;
  payload: unknown;
  /** Defaults to `deliveryNonce(subscriptionId, itemKey)`. */
  nonce?: string;
  /** Defaults to now. */
  nextAttemptAt?: number;
}

/** Durable per-subscription delivery queues (`outbox:<subId>`) and the `outbox` index of non-empty ones. */
export interface OutboxRepository {
  /** Appends entries in order, skipping item keys already queued. Resolves to how many were added. */
  enqueue(subscriptionId: string, entries: readonly NewOutboxEntry[]): Promise<number>;
  /** Pending entries, oldest first. */
  list(subscriptionId: string): Promise<OutboxEntry[]>;
  /** Whether the subscription has anything pending (without copying its queue). */
  hasPending(subscriptionId: string): Promise<boolean>;
  /** `hasPending` without waiting, when the queue is in memory; else {@link NOT_IN_MEMORY}. */
  peekPending(subscriptionId: string): boolean | NotInMemory;
  /** Subscriptions with pending entries: what a restart resumes. */
  pendingSubscriptionIds(): Promise<string[]>;
  /** Drops a delivered (or abandoned) entry; resolves to whether it was there. */
  remove(subscriptionId: string, itemKey: string): Promise<boolean>;
  /** Records a failed attempt, keeping the entry's place in the queue; false when it is gone. */
  reschedule(
    subscriptionId: string,
    itemKey: string,
    retry: { attempts: number; nextAttemptAt: number },
  ): Promise<boolean>;
  /** Drops every pending entry of a subscription. */
  clear(subscriptionId: string): Promise<void>;
}

/** The Discord nonce of a post: a short hash of (subscription, item key), stable across retries. */
export function deliveryNonce(subscriptionId: string, itemKey: string): string {
  // Discord accepts nonces up to 25 characters.
  return createHash('sha256').update(`${subscriptionId}\n${itemKey}`).digest('hex').slice(0, 20);
}

/** Builds the outbox repository over a key-value store. */
export function createOutboxRepository(kv: KeyValueStore, now: () => number): OutboxRepository {
  // Every change to one subscription's queue holds that queue's key, so the queue and the index
  // are always changed together; the index is written before entries appear and after they are
  // gone, so a crash in between leaves at worst an empty queue in the index, never a lost one.
  // A copy of the queue (its entries stay shared and frozen): callers take entries off it.
  const read = async (subscriptionId: string) => [
    ...((await kv.get<OutboxEntry[]>(storeKeys.outbox(subscriptionId))) ?? []),
  ];

  async function write(subscriptionId: string, entries: OutboxEntry[]): Promise<void> {
    if (entries.length > 0) {
      await kv.set(storeKeys.outbox(subscriptionId), entries);
    } else {
      await kv.delete(storeKeys.outbox(subscriptionId));
      await removeFromIndex(kv, storeKeys.outboxIndex, subscriptionId);
    }
  }

  return {
    async enqueue(subscriptionId, entries) {
      if (entries.length === 0) return 0;
      return kv.withLock(storeKeys.outbox(subscriptionId), async () => {
        const queue = await read(subscriptionId);
        const queued = new Set(queue.map((entry) => entry.itemKey));
        const at = now();
        const fresh: OutboxEntry[] = [];
        for (const entry of entries) {
          if (queued.has(entry.itemKey)) continue;
          queued.add(entry.itemKey);
          fresh.push({
            itemKey: entry.itemKey,
            payload: entry.payload,
            attempts: 0,
            nextAttemptAt: entry.nextAttemptAt ?? at,
            enqueuedAt: at,
            nonce: entry.nonce ?? deliveryNonce(subscriptionId, entry.itemKey),
          });
        }
        if (fresh.length === 0) return 0;
        await addToIndex(kv, storeKeys.outboxIndex, subscriptionId);
        await kv.set(storeKeys.outbox(subscriptionId), [...queue, ...fresh]);
        return fresh.length;
      });
    },
    list: read,
    peekPending(subscriptionId) {
      const queue = kv.peek<OutboxEntry[]>(storeKeys.outbox(subscriptionId));
      return queue === NOT_IN_MEMORY ? NOT_IN_MEMORY : queue !== undefined && queue.length > 0;
    },
    async hasPending(subscriptionId) {
      const queue = await kv.get<OutboxEntry[]>(storeKeys.outbox(subscriptionId));
      return queue !== undefined && queue.length > 0;
    },
    async pendingSubscriptionIds() {
      return [...((await kv.get<string[]>(storeKeys.outboxIndex)) ?? [])];
    },
    remove(subscriptionId, itemKey) {
      return kv.withLock(storeKeys.outbox(subscriptionId), async () => {
        const queue = await read(subscriptionId);
        const rest = queue.filter((entry) => entry.itemKey !== itemKey);
        if (rest.length === queue.length) return false;
        await write(subscriptionId, rest);
        return true;
      });
    },
    reschedule(subscriptionId, itemKey, retry) {
      return kv.withLock(storeKeys.outbox(subscriptionId), async () => {
        const queue = await read(subscriptionId);
        const index = queue.findIndex((entry) => entry.itemKey === itemKey);
        const entry = queue[index];
        if (!entry) return false;
        const next = [...queue];
        next[index] = { ...entry, attempts: retry.attempts, nextAttemptAt: retry.nextAttemptAt };
        await write(subscriptionId, next);
        return true;
      });
    },
    clear(subscriptionId) {
      return kv.withLock(storeKeys.outbox(subscriptionId), async () => {
        if ((await read(subscriptionId)).length > 0) await kv.delete(storeKeys.outbox(subscriptionId));
        await removeFromIndex(kv, storeKeys.outboxIndex, subscriptionId);
      });
    },
  };
}
