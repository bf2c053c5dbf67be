import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryNonce } from '../../src/store/outbox';
import type { Store } from '../../src/store/store';
import { createTempStores, type TempStores } from './temp-store';

const NOW = 1_700_000_000_000;

let temp: TempStores;
let store: Store;
beforeEach(async () => {
  temp = createTempStores();
  store = await temp.open(undefined, { now: () => NOW });
});
afterEach(async () => {
  await temp.cleanup();
});

const payload = (text: string) => ({ embeds: [{ title: text }], allowed_mentions: { parse: [] } });

describe('outbox', () => {
  it('hands entries back first in, first out, with attempts, times and nonce filled in', async () => {
    await store.outbox.enqueue('s1', [
      { itemKey: 'g:1', payload: payload('one') },
      { itemKey: 'g:2', payload: payload('two') },
    ]);
    await store.outbox.enqueue('s1', [{ itemKey: 'g:3', payload: payload('three'), nextAttemptAt: NOW + 5 }]);

    const entries = await store.outbox.list('s1');

    expect(entries.map((e) => e.itemKey)).toEqual(['g:1', 'g:2', 'g:3']);
    expect(entries[0]).toEqual({
      itemKey: 'g:1',
      payload: payload('one'),
      attempts: 0,
      nextAttemptAt: NOW,
      enqueuedAt: NOW,
      nonce: deliveryNonce('s1', 'g:1'),
    });
    expect(entries[2]?.nextAttemptAt).toBe(NOW + 5);
  });

  it('tells whether a subscription has anything pending, until its last entry is gone', async () => {
    expect(await store.outbox.hasPending('s1')).toBe(false);
    await store.outbox.enqueue('s1', [{ itemKey: 'g:1', payload: payload('one') }]);
    expect(await store.outbox.hasPending('s1')).toBe(true);
    expect(await store.outbox.hasPending('s2')).toBe(false);

    await store.outbox.remove('s1', 'g:1');
    expect(await store.outbox.hasPending('s1')).toBe(false);
  });

  it('keeps one entry per item key however often it is enqueued', async () => {
    expect(await store.outbox.enqueue('s1', [{ itemKey: 'g:1', payload: payload('first') }])).toBe(1);
    expect(
      await store.outbox.enqueue('s1', [
        { itemKey: 'g:1', payload: payload('again') },
        { itemKey: 'g:2', payload: payload('two') },
        { itemKey: 'g:2', payload: payload('two again') },
      ]),
    ).toBe(1);

    const entries = await store.outbox.list('s1');
    expect(entries.map((e) => [e.itemKey, e.payload])).toEqual([
      ['g:1', payload('first')],
      ['g:2', payload('two')],
    ]);
  });

  it('keeps every entry when enqueues for one subscription race', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, n) => store.outbox.enqueue('s1', [{ itemKey: `g:${n}`, payload: {} }])),
    );

    expect(await store.outbox.list('s1')).toHaveLength(20);
  });

  it('derives a short nonce per subscription and item that stays the same across retries', () => {
    const nonce = deliveryNonce('s1', 'g:1');

    expect(nonce.length).toBeLessThanOrEqual(25);
    expect(deliveryNonce('s1', 'g:1')).toBe(nonce);
    expect(deliveryNonce('s2', 'g:1')).not.toBe(nonce);
    expect(deliveryNonce('s1', 'g:2')).not.toBe(nonce);
  });

  it('finds every subscription with pending work after a restart', async () => {
    await store.outbox.enqueue('s1', [{ itemKey: 'g:1', payload: payload('one') }]);
    await store.outbox.enqueue('s2', [{ itemKey: 'g:9', payload: payload('nine') }]);
    await store.close();

    const reopened = await temp.open();

    expect((await reopened.outbox.pendingSubscriptionIds()).sort()).toEqual(['s1', 's2']);
    expect((await reopened.outbox.list('s2')).map((e) => e.payload)).toEqual([payload('nine')]);
  });

  it('drops a subscription from the pending index once its last entry is removed', async () => {
    await store.outbox.enqueue('s1', [
      { itemKey: 'g:1', payload: {} },
      { itemKey: 'g:2', payload: {} },
    ]);

    expect(await store.outbox.remove('s1', 'g:1')).toBe(true);
    expect(await store.outbox.pendingSubscriptionIds()).toEqual(['s1']);
    expect(await store.outbox.remove('s1', 'g:2')).toBe(true);
    expect(await store.outbox.remove('s1', 'g:2')).toBe(false);

    expect(await store.outbox.list('s1')).toEqual([]);
    expect(await store.outbox.pendingSubscriptionIds()).toEqual([]);
  });

  it('reschedules a failed entry in place', async () => {
    await store.outbox.enqueue('s1', [
      { itemKey: 'g:1', payload: {} },
      { itemKey: 'g:2', payload: {} },
    ]);

    expect(await store.outbox.reschedule('s1', 'g:1', { attempts: 1, nextAttemptAt: NOW + 30_000 })).toBe(
      true,
    );
    expect(await store.outbox.reschedule('s1', 'g:missing', { attempts: 1, nextAttemptAt: 0 })).toBe(false);

    const entries = await store.outbox.list('s1');
    expect(entries.map((e) => [e.itemKey, e.attempts, e.nextAttemptAt])).toEqual([
      ['g:1', 1, NOW + 30_000],
      ['g:2', 0, NOW],
    ]);
  });

  it('clear drops every pending entry of one subscription only', async () => {
    await store.outbox.enqueue('s1', [{ itemKey: 'g:1', payload: {} }]);
    await store.outbox.enqueue('s2', [{ itemKey: 'g:1', payload: {} }]);

    await store.outbox.clear('s1');

    expect(await store.outbox.list('s1')).toEqual([]);
    expect(await store.outbox.list('s2')).toHaveLength(1);
    expect(await store.outbox.pendingSubscriptionIds()).toEqual(['s2']);
  });
});
