import { describe, it, type TestContext } from 'vitest';
import { startWorld, type HeraldWorld, type WorldOptions } from '../support/herald-harness';
import { GrowingFeed, type SyntheticItem } from '../support/synthetic-feed';

const RSS = { 'Content-Type': 'application/rss+xml' };
const POST_MESSAGE = 'POST /channels/:channel/messages';

/** A world closed when the test ends, whatever its outcome. */
async function openWorld(context: TestContext, options?: WorldOptions): Promise<HeraldWorld> {
  const world = await startWorld(options);
  context.onTestFinished(() => world.close());
  return world;
}

/** The embed fields a reader sees for a post, as Herald should render it (the time is checked apart). */
function expectedEmbed(post: SyntheticItem, feedTitle: string) {
  return {
    title: post.title,
    url: post.link,
    author: { name: post.author },
    image: { url: post.image },
    footer: { text: feedTitle },
  };
}

/** The instants the embeds show (Discord echoes timestamps in its own ISO spelling). */
function shownTimes(messages: readonly { embeds: readonly { timestamp?: string }[] }[]): number[] {
  return messages.map((message) => Date.parse(message.embeds[0]?.timestamp ?? ''));
}

// Each test has its own world, so they run side by side to keep the file fast on a 2-core machine.
describe.concurrent('announcing new items', () => {
  it('posts nothing at subscription, then exactly the new items, oldest first, with linked title, time, author and image', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Daily');
    feed.publish(5);
    const url = world.serveFeed(feed);

    await world.subscribe(url, { backfill: 0 });
    // The subscribe fetch plus two scheduled checks: a backfill of 0 must stay silent.
    await world.waitForChecks('/feed.xml', 3);
    expect(world.discord.messages(world.channel.id)).toHaveLength(0);
    expect(world.discord.requestLog.filter((entry) => entry.route === POST_MESSAGE)).toHaveLength(0);

    const added = feed.publish(3);
    const posted = await world.discord.waitForMessages(world.channel.id, 3, { timeoutMs: 10_000 });

    expect(posted.map((message) => message.embeds[0]?.title)).toEqual(added.map((post) => post.title));
    posted.forEach((message, i) => {
      expect(message.embeds).toHaveLength(1);
      expect(message.embeds[0]).toMatchObject(expectedEmbed(added[i]!, 'Daily'));
    });
    expect(shownTimes(posted)).toEqual(added.map((post) => post.published!.getTime()));
    expect(posted[0]?.embeds[0]?.description).toContain('Summary of post 6');

    // Later checks of the same document post nothing more.
    const checked = world.feeds.requestsTo('/feed.xml').length;
    await world.waitForChecks('/feed.xml', checked + 2);
    expect(world.discord.messages(world.channel.id)).toHaveLength(3);
  });

  it('posts the two newest existing items at subscription when asked for a backfill of 2, oldest of the two first, and then only what is new', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Weekly');
    const existing = feed.publish(5);
    const url = world.serveFeed(feed);

    const result = await world.subscribe(url, { backfill: 2 });
    expect(result.backfilled).toBe(2);
    const backfilled = await world.discord.waitForMessages(world.channel.id, 2);
    expect(backfilled.map((message) => message.embeds[0]?.title)).toEqual([
      existing[3]!.title,
      existing[4]!.title,
    ]);
    expect(backfilled[1]?.embeds[0]).toMatchObject(expectedEmbed(existing[4]!, 'Weekly'));
    expect(shownTimes(backfilled)).toEqual([existing[3]!, existing[4]!].map((p) => p.published!.getTime()));

    await world.waitForChecks('/feed.xml', 3);
    expect(world.discord.messages(world.channel.id)).toHaveLength(2);

    const [fresh] = feed.publish(1);
    const all = await world.discord.waitForMessages(world.channel.id, 3);
    expect(all.map((message) => message.embeds[0]?.title)).toEqual([
      existing[3]!.title,
      existing[4]!.title,
      fresh!.title,
    ]);
    const checked = world.feeds.requestsTo('/feed.xml').length;
    await world.waitForChecks('/feed.xml', checked + 1);
    expect(world.discord.messages(world.channel.id)).toHaveLength(3);
  });

  it('posts the first items of a feed that was empty when subscribed', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Fresh start');
    const url = world.serveFeed(feed);
    const result = await world.subscribe(url);
    expect(result.latest).toBeNull();
    await world.waitForChecks('/feed.xml', 2);

    const added = feed.publish(2);
    const posted = await world.discord.waitForMessages(world.channel.id, 2);
    expect(posted.map((message) => message.embeds[0]?.title)).toEqual(added.map((post) => post.title));
  });

  it('fetches a feed that two servers follow once per check and posts each new item in both servers', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const otherGuild = world.discord.addGuild({ name: 'Elsewhere' });
    const otherChannel = world.discord.addChannel(otherGuild.id, { name: 'feeds' });
    const feed = new GrowingFeed('Shared');
    feed.publish(3);
    const url = world.feeds.url('/shared.xml');
    // What Herald had recorded about the feed when each request arrived: two fetches within one
    // check would both see the same last check.
    const arrivals: { at: number; lastCheckedAt: number | null }[] = [];
    world.feeds.route('/shared.xml', async (_req, res) => {
      const state = await world.herald.store.feeds.get(url);
      arrivals.push({ at: Date.now(), lastCheckedAt: state?.lastCheckedAt ?? null });
      res.writeHead(200, RSS).end(feed.xml());
    });

    await world.subscribe(url);
    await world.subscribe(url, { guildId: otherGuild.id, channelId: otherChannel.id });
    const firstCheck = arrivals.length;

    const added = feed.publish(2);
    const titles = added.map((post) => post.title);
    const here = await world.discord.waitForMessages(world.channel.id, 2);
    const there = await world.discord.waitForMessages(otherChannel.id, 2);
    expect(here.map((message) => message.embeds[0]?.title)).toEqual(titles);
    expect(there.map((message) => message.embeds[0]?.title)).toEqual(titles);

    await world.waitForChecks('/shared.xml', arrivals.length + 2);
    expect(world.discord.messages(world.channel.id)).toHaveLength(2);
    expect(world.discord.messages(otherChannel.id)).toHaveLength(2);

    const checks = arrivals.slice(firstCheck);
    expect(checks.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < checks.length; i++) {
      const [previous, current] = [checks[i - 1]!, checks[i]!];
      // Each request comes after the previous check was recorded, one interval (1 s) later: one
      // request per check, not one per subscription.
      expect(current.lastCheckedAt).toBeGreaterThan(previous.lastCheckedAt ?? 0);
      expect(current.at - previous.at).toBeGreaterThanOrEqual(850);
    }
  });

  it('mentions only the configured role, and an @everyone in a summary pings nobody', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const role = world.discord.addRole(world.guild.id, { name: 'readers', mentionable: true });
    const feed = new GrowingFeed('Loud');
    feed.publish(2);
    const url = world.serveFeed(feed);
    await world.subscribe(url, { mentionRoleId: role.id });

    feed.publish(1, { description: '<p>Hey @everyone and @here, read this!</p>' });
    const [message] = await world.discord.waitForMessages(world.channel.id, 1);

    expect(message?.content).toBe(`<@&${role.id}>`);
    expect(message?.allowed_mentions).toEqual({ parse: [], roles: [role.id] });
    expect(message?.mention_roles).toEqual([role.id]);
    expect(message?.mention_everyone).toBe(false);
    expect(message?.mentions).toEqual([]);
    expect(message?.embeds[0]?.description).toContain('everyone');
  });
});
