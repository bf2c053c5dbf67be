import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryError, type AnnouncementBody, type Announcer } from '../../src/delivery/announcer';
import { createDeliverer, type Deliverer, type QueuedAnnouncement } from '../../src/delivery/deliverer';
import { createSilentLogger } from '../../src/logger';
import type { Store, Subscription } from '../../src/store';
import { deliveryNonce } from '../../src/store/outbox';
import { createTempStores, type TempStores } from '../store/temp-store';

/**
 * A hand-written Discord stand-in at the Announcer boundary: records every body and answers with
 * what `decide` says. The fake Discord server accepts every embed Herald renders, so a 400 on the
 * full embed can only be produced here.
 */
class RecordingAnnouncer implements Announcer {
  readonly posts: { channelId: string; body: AnnouncementBody }[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly decide: (body: AnnouncementBody, attempt: number) => DeliveryError | null) {}

  post(channelId: string, body: AnnouncementBody): Promise<{ messageId: string }> {
    this.posts.push({ channelId, body });
    for (const wake of this.waiters.splice(0)) wake();
    const refusal = this.decide(body, this.posts.length);
    return refusal ? Promise.reject(refusal) : Promise.resolve({ messageId: String(this.posts.length) });
  }

  /** Resolves once `count` posts were attempted; rejects after `timeoutMs` so a stuck queue fails fast. */
  async attempts(count: number, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.posts.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} post attempts, saw ${this.posts.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  }
}

const refused = (channelId: string) =>
  new DeliveryError(
    'Discord refused the message: Invalid Form Body',
    'rejected-payload',
    channelId,
    400,
    50035,
  );

function announcement(title: string): QueuedAnnouncement {
  return {
    message: {
      embeds: [
        {
          title,
          description: 'A long description Discord will not take',
          image: { url: 'https://x.example/a.png' },
        },
      ],
      allowed_mentions: { parse: [] },
    },
    fallback: { embeds: [{ title }], allowed_mentions: { parse: [] } },
  };
}

let temp: TempStores;
let store: Store;
let subscription: Subscription;
let deliverer: Deliverer | undefined;

beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open();
  subscription = await store.subscriptions.create(
    { guildId: 'g1', channelId: 'c1', feedUrl: 'https://feed.example/rss', createdBy: 'tester' },
    { maxPerGuild: 10 },
  );
});

afterEach(async () => {
  await deliverer?.stop(1000);
  deliverer = undefined;
  await temp.cleanup();
});

function start(announcer: Announcer): Deliverer {
  deliverer = createDeliverer({
    store,
    announcer,
    logger: createSilentLogger(),
    retry: { baseMs: 5, maxMs: 20 },
  });
  return deliverer;
}

describe('deliverer', () => {
  it('sends the minimal embed, with the same nonce, when Discord refuses the full one with a 400, so the post is not lost', async () => {
    const announcer = new RecordingAnnouncer((body, _attempt) =>
      body.embeds?.[0]?.description ? refused('c1') : null,
    );
    await store.outbox.enqueue(subscription.id, [{ itemKey: 'g:1', payload: announcement('First') }]);

    start(announcer).release(subscription.id, 5);
    await announcer.attempts(2);
    await deliverer!.idle();

    const nonce = deliveryNonce(subscription.id, 'g:1');
    expect(announcer.posts.map((post) => post.body)).toEqual([
      { ...announcement('First').message, nonce, enforce_nonce: true },
      { ...announcement('First').fallback, nonce, enforce_nonce: true },
    ]);
    expect(await store.outbox.list(subscription.id)).toEqual([]);
    expect((await store.subscriptions.get(subscription.id))?.postedCount).toBe(1);
  });

  it('drops an item only when even the minimal embed is refused, and goes on with the next one', async () => {
    const announcer = new RecordingAnnouncer((body) =>
      body.embeds?.[0]?.title === 'Doomed' ? refused('c1') : null,
    );
    await store.outbox.enqueue(subscription.id, [
      { itemKey: 'g:1', payload: announcement('Doomed') },
      { itemKey: 'g:2', payload: announcement('Fine') },
    ]);

    start(announcer).release(subscription.id, 5);
    await announcer.attempts(3);
    await deliverer!.idle();

    expect(announcer.posts.map((post) => post.body.embeds?.[0]?.title)).toEqual(['Doomed', 'Doomed', 'Fine']);
    expect(await store.outbox.list(subscription.id)).toEqual([]);
    expect((await store.subscriptions.get(subscription.id))?.postedCount).toBe(1);
  });

  it('does not count a failure notice among the posted items or as the last post', async () => {
    const announcer = new RecordingAnnouncer(() => null);
    const notice: QueuedAnnouncement = {
      message: { content: '⚠️ Herald cannot read **Feed**', allowed_mentions: { parse: [] } },
      notice: true,
    };
    await store.outbox.enqueue(subscription.id, [{ itemKey: 'notice:1', payload: notice }]);
    start(announcer).release(subscription.id, 5);
    await announcer.attempts(1);
    await deliverer!.idle();
    const afterNotice = await store.subscriptions.get(subscription.id);
    expect(afterNotice?.postedCount).toBe(0);
    expect(afterNotice?.lastPostAt).toBeUndefined();

    await store.outbox.enqueue(subscription.id, [{ itemKey: 'g:1', payload: announcement('Item') }]);
    deliverer!.release(subscription.id, 5);
    await announcer.attempts(2);
    await deliverer!.idle();

    expect(announcer.posts.map((post) => post.body.content ?? post.body.embeds?.[0]?.title)).toEqual([
      '⚠️ Herald cannot read **Feed**',
      'Item',
    ]);
    const afterItem = await store.subscriptions.get(subscription.id);
    expect(afterItem?.postedCount).toBe(1);
    expect(afterItem?.lastPostAt).toEqual(expect.any(Number));
  });

  it('retries a post that failed with a 5xx, keeping its nonce and its place before later posts', async () => {
    const transient = new DeliveryError('Discord answered 503.', 'transient', 'c1', 503, null);
    const announcer = new RecordingAnnouncer((_body, attempt) => (attempt <= 2 ? transient : null));
    await store.outbox.enqueue(subscription.id, [
      { itemKey: 'g:1', payload: announcement('One') },
      { itemKey: 'g:2', payload: announcement('Two') },
    ]);

    start(announcer).release(subscription.id, 5);
    await announcer.attempts(4);
    await deliverer!.idle();

    expect(announcer.posts.map((post) => [post.body.embeds?.[0]?.title, post.body.nonce])).toEqual([
      ['One', deliveryNonce(subscription.id, 'g:1')],
      ['One', deliveryNonce(subscription.id, 'g:1')],
      ['One', deliveryNonce(subscription.id, 'g:1')],
      ['Two', deliveryNonce(subscription.id, 'g:2')],
    ]);
    expect(await store.outbox.list(subscription.id)).toEqual([]);
  });
});
