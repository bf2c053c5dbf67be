import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionHandle, MemberInfo, OptionValue } from '../support/fake-discord/index';
import { startWorld, type HeraldWorld } from '../support/herald-harness';
import { GrowingFeed } from '../support/synthetic-feed';

const RSS = { 'content-type': 'application/rss+xml; charset=utf-8' };
const LOADING = 1 << 7;

function invoke(
  world: HeraldWorld,
  member: MemberInfo,
  subcommand: string,
  options: Record<string, OptionValue>,
): InteractionHandle {
  return world.discord.invokeCommand({
    guildId: world.guild.id,
    channelId: world.channel.id,
    member,
    name: 'feed',
    subcommand,
    options,
  });
}

describe('a feed slower than Discord’s 3 s answer window', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    // Fetches may take 6 s here, so a 2.5 s feed succeeds.
    world = await startWorld({ env: { FETCH_TIMEOUT_SECONDS: '6' } });
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  it('is deferred privately in time, then the answer replaces the loading message (add and preview)', async () => {
    const feed = new GrowingFeed('Sluggish');
    feed.publish(3);
    world.feeds.serve('/sluggish.xml', { headers: RSS, body: feed.xml(), delayMs: 2500 });
    const url = world.feeds.url('/sluggish.xml');

    const add = invoke(world, admin, 'add', { url });
    const preview = invoke(world, admin, 'preview', { url });

    for (const handle of [add, preview]) {
      const acknowledged = await handle.acknowledged({ timeoutMs: 5000 });
      expect(acknowledged.acknowledgement).toBe('deferred-reply');
      expect(acknowledged.ephemeral).toBe(true);
    }
    const [added, previewed] = await Promise.all([
      add.answered({ timeoutMs: 10_000 }),
      preview.answered({ timeoutMs: 10_000 }),
    ]);

    for (const response of [added, previewed]) {
      expect(response.refusals).toEqual([]);
      expect(response.expired).toBe(false);
      expect((response.reply?.flags ?? 0) & LOADING).toBe(0);
      expect(response.reply?.allowed_mentions).toEqual({ parse: [] });
    }
    expect(added.reply?.content).toContain('now follows **Sluggish**');
    expect(previewed.reply?.embeds[0]?.title).toBe('Sluggish post 3');
    const stored = await world.herald.store.subscriptions.listByGuild(world.guild.id);
    expect(stored.map((subscription) => subscription.feedUrl)).toEqual([url]);
  });
});

describe('a feed that never answers', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    // The test world gives up on a fetch after 2 s.
    world = await startWorld();
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  it('is deferred, then answered privately with the timeout, and nothing is stored', async () => {
    world.feeds.serve('/stalled.xml', { stall: 'before-headers' });
    const url = world.feeds.url('/stalled.xml');

    const handle = invoke(world, admin, 'add', { url });

    expect((await handle.acknowledged({ timeoutMs: 5000 })).acknowledgement).toBe('deferred-reply');
    const response = await handle.answered({ timeoutMs: 10_000 });
    expect(response.refusals).toEqual([]);
    expect(response.ephemeral).toBe(true);
    expect(response.reply?.content).toMatch(/did not answer within 2 s/);
    expect(response.reply?.content).toMatch(/try again later/);
    expect(await world.herald.store.subscriptions.listByGuild(world.guild.id)).toEqual([]);
    expect(await world.herald.store.feeds.get(url)).toBeUndefined();
  });
});
