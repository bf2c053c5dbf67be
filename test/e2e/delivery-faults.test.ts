import { describe, it, type TestContext } from 'vitest';
import type { FailureInjection } from '../support/fake-discord/index';
import { startWorld, waitUntil, type HeraldWorld, type WorldOptions } from '../support/herald-harness';
import { GrowingFeed } from '../support/synthetic-feed';

const POST_MESSAGE = 'POST /channels/:channel/messages';

/** A world closed when the test ends, whatever its outcome. */
async function openWorld(context: TestContext, options?: WorldOptions): Promise<HeraldWorld> {
  const world = await startWorld(options);
  context.onTestFinished(() => world.close());
  return world;
}

/** Every attempt Herald made to post in a channel, answered or refused. */
function postsAttemptedIn(world: HeraldWorld, channelId: string) {
  return world.discord.requestLog.filter(
    (entry) => entry.route === POST_MESSAGE && entry.path.startsWith(`/channels/${channelId}/messages`),
  );
}

/** Titles of the posts in a channel, oldest first. */
function postedTitles(world: HeraldWorld, channelId: string): (string | undefined)[] {
  return world.discord.messages(channelId).map((message) => message.embeds[0]?.title);
}

/** Waits until `count` more checks of `path` have been handled. */
async function moreChecks(world: HeraldWorld, path: string, count: number): Promise<void> {
  await world.waitForChecks(path, world.feeds.requestsTo(path).length + count);
}

/** Waits until Herald has paused the subscription, and returns the reason it shows. */
async function pausedReason(world: HeraldWorld, guildId: string, subscriptionId: string): Promise<string> {
  return waitUntil(
    async () => {
      const { subscription } = await world.herald.subscriptions.status(guildId, subscriptionId);
      return subscription.paused ? (subscription.pausedReason ?? '') : undefined;
    },
    { what: `subscription ${subscriptionId} to be paused` },
  );
}

describe.concurrent('delivering through Discord failures', () => {
  it('posts every item exactly once through a storm of 429s and 5xx, with few invalid requests', async (context) => {
    const { expect } = context;
    // Only the injected failures limit posting here, not Discord's per-channel rate limit.
    const world = await openWorld(context, {
      discord: { rateLimits: { messages: { limit: 100, windowMs: 1000 } } },
    });
    const feed = new GrowingFeed('Stormy');
    feed.publish(2);
    const url = world.serveFeed(feed);
    await world.subscribe(url);

    const storm: FailureInjection[] = [
      { status: 429, retryAfterMs: 100 },
      { status: 500, count: 2 },
      { status: 502 },
      { status: 429, retryAfterMs: 200, global: true },
      { status: 503, count: 2 },
      { status: 500 },
      { status: 429, retryAfterMs: 100 },
      { status: 504 },
      { status: 500, count: 4 },
      { status: 429, retryAfterMs: 100 },
      { status: 502, count: 2 },
    ];
    for (const failure of storm) world.discord.injectFailures({ ...failure, route: POST_MESSAGE });
    const injected = storm.reduce((sum, failure) => sum + (failure.count ?? 1), 0);

    const added = feed.publish(8);
    const posted = await world.discord.waitForMessages(world.channel.id, 8, { timeoutMs: 20_000 });
    await moreChecks(world, '/feed.xml', 2);

    expect(posted.map((message) => message.embeds[0]?.title)).toEqual(added.map((post) => post.title));
    expect(world.discord.messages(world.channel.id)).toHaveLength(8);
    // The storm really happened: every injected failure was served to Herald.
    expect(postsAttemptedIn(world, world.channel.id).filter((entry) => entry.injected)).toHaveLength(
      injected,
    );
    expect(world.discord.stats.invalid).toBeLessThan(10);
  });

  it('keeps to a tight per-channel rate limit through a burst bigger than the limit, posting each item once', async (context) => {
    const { expect } = context;
    const world = await openWorld(context, {
      discord: { rateLimits: { messages: { limit: 2, windowMs: 1000 } } },
    });
    const second = world.discord.addChannel(world.guild.id, { name: 'second' });
    const alpha = new GrowingFeed('Alpha');
    const beta = new GrowingFeed('Beta');
    alpha.publish(2);
    beta.publish(2);
    const alphaUrl = world.serveFeed(alpha, '/alpha.xml');
    const betaUrl = world.serveFeed(beta, '/beta.xml');
    await world.subscribe(alphaUrl);
    await world.subscribe(betaUrl);
    await world.subscribe(alphaUrl, { channelId: second.id });

    const alphaPosts = alpha.publish(4).map((post) => post.title);
    const betaPosts = beta.publish(3).map((post) => post.title);
    await world.discord.waitForMessages(world.channel.id, 7, { timeoutMs: 20_000 });
    await world.discord.waitForMessages(second.id, 4, { timeoutMs: 20_000 });
    await moreChecks(world, '/alpha.xml', 1);
    await moreChecks(world, '/beta.xml', 1);

    const main = postedTitles(world, world.channel.id);
    expect(main).toHaveLength(7);
    expect(main.filter((title) => title?.startsWith('Alpha'))).toEqual(alphaPosts);
    expect(main.filter((title) => title?.startsWith('Beta'))).toEqual(betaPosts);
    expect(postedTitles(world, second.id)).toEqual(alphaPosts);
    for (const channelId of [world.channel.id, second.id]) {
      const limited = postsAttemptedIn(world, channelId).filter((entry) => entry.status === 429);
      expect(limited.length, `429s in channel ${channelId}`).toBeLessThanOrEqual(1);
    }
  });

  it('pauses a subscription whose channel refuses Send Messages, stops calling that channel, and keeps posting elsewhere', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const other = world.discord.addChannel(world.guild.id, { name: 'other' });
    const feed = new GrowingFeed('Guarded');
    feed.publish(2);
    const url = world.serveFeed(feed);
    const { subscription: refused } = await world.subscribe(url);
    const { subscription: healthy } = await world.subscribe(url, { channelId: other.id });

    const [first] = feed.publish(1);
    await world.discord.waitForMessages(world.channel.id, 1);
    await world.discord.waitForMessages(other.id, 1);

    world.discord.setBotPermissions(world.channel.id, { deny: ['SendMessages'] });
    const during = feed.publish(2);
    const reason = await pausedReason(world, world.guild.id, refused.id);
    expect(reason).toMatch(/Send Messages/);
    await world.discord.waitForMessages(other.id, 3);
    const attemptsAtPause = postsAttemptedIn(world, world.channel.id);
    expect(attemptsAtPause.filter((entry) => entry.status === 403)).toHaveLength(1);

    const after = feed.publish(2);
    await world.discord.waitForMessages(other.id, 5);
    await moreChecks(world, '/feed.xml', 2);

    expect(postsAttemptedIn(world, world.channel.id)).toHaveLength(attemptsAtPause.length);
    expect(postedTitles(world, world.channel.id)).toEqual([first!.title]);
    expect(postedTitles(world, other.id)).toEqual([first!, ...during, ...after].map((post) => post.title));
    const stillHealthy = await world.herald.subscriptions.status(world.guild.id, healthy.id);
    expect(stillHealthy.subscription.paused).toBeFalsy();
  });

  it('pauses a subscription whose channel was deleted while Herald was offline (404 Unknown Channel) and stops calling it', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const other = world.discord.addChannel(world.guild.id, { name: 'other' });
    const feed = new GrowingFeed('Orphaned');
    feed.publish(2);
    const url = world.serveFeed(feed);
    const { subscription: orphaned } = await world.subscribe(url);
    await world.subscribe(url, { channelId: other.id });
    feed.publish(1);
    await world.discord.waitForMessages(world.channel.id, 1);
    await world.discord.waitForMessages(other.id, 1);

    // Deleted while the bot is away, so no CHANNEL_DELETE event reaches it: only the 404 tells.
    await world.restart(() => world.discord.deleteChannel(world.channel.id));
    const attemptsBefore = postsAttemptedIn(world, world.channel.id).length;
    feed.publish(2);
    const reason = await pausedReason(world, world.guild.id, orphaned.id);
    expect(reason).toMatch(/deleted|can no longer find/);
    await world.discord.waitForMessages(other.id, 3);

    feed.publish(1);
    await world.discord.waitForMessages(other.id, 4);
    await moreChecks(world, '/feed.xml', 2);
    const attemptsAfter = postsAttemptedIn(world, world.channel.id).slice(attemptsBefore);
    expect(attemptsAfter.map((entry) => [entry.status, entry.code])).toEqual([[404, 10003]]);
  });

  it('pauses a subscription whose channel is deleted while Herald watches, without posting there again', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const other = world.discord.addChannel(world.guild.id, { name: 'other' });
    const feed = new GrowingFeed('Vanishing');
    feed.publish(2);
    const url = world.serveFeed(feed);
    const { subscription: gone } = await world.subscribe(url);
    await world.subscribe(url, { channelId: other.id });

    world.discord.deleteChannel(world.channel.id);
    const reason = await pausedReason(world, world.guild.id, gone.id);
    expect(reason).toMatch(/deleted/);
    const attemptsBefore = postsAttemptedIn(world, world.channel.id).length;

    feed.publish(3);
    await world.discord.waitForMessages(other.id, 3);
    await moreChecks(world, '/feed.xml', 2);
    expect(postsAttemptedIn(world, world.channel.id)).toHaveLength(attemptsBefore);
  });
});
