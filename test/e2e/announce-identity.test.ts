import { describe, it, type TestContext } from 'vitest';
import { startWorld, type HeraldWorld, type WorldOptions } from '../support/herald-harness';
import { GrowingFeed } from '../support/synthetic-feed';

/** A world closed when the test ends, whatever its outcome. */
async function openWorld(context: TestContext, options?: WorldOptions): Promise<HeraldWorld> {
  const world = await startWorld(options);
  context.onTestFinished(() => world.close());
  return world;
}

/** Titles of the posts in a channel, oldest first. */
function postedTitles(world: HeraldWorld, channelId = world.channel.id): (string | undefined)[] {
  return world.discord.messages(channelId).map((message) => message.embeds[0]?.title);
}

/** Waits until `count` more checks of `path` have been handled. */
async function moreChecks(world: HeraldWorld, path: string, count: number): Promise<void> {
  await world.waitForChecks(path, world.feeds.requestsTo(path).length + count);
}

describe.concurrent('telling new items from old ones', () => {
  it('posts nothing when a feed rewrites every guid, nor when it also moves every link, and still posts what is new afterwards', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Migrating');
    feed.publish(6);
    const url = world.serveFeed(feed);
    await world.subscribe(url);

    feed.rekey('v2');
    await moreChecks(world, '/feed.xml', 2);
    expect(postedTitles(world)).toEqual([]);

    // The feed still works after the rewrite: a genuinely new post is announced.
    const [seventh] = feed.publish(1);
    await world.discord.waitForMessages(world.channel.id, 1);

    feed.rekey('v3', true);
    await moreChecks(world, '/feed.xml', 2);
    expect(postedTitles(world)).toEqual([seventh!.title]);

    const [eighth] = feed.publish(1);
    await world.discord.waitForMessages(world.channel.id, 2);
    await moreChecks(world, '/feed.xml', 1);
    expect(postedTitles(world)).toEqual([seventh!.title, eighth!.title]);
  });

  it('posts nothing when an undated feed rewrites every guid and link at once', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Undated', 'https://undated.example', Date.UTC(2025, 0, 1), {
      dated: false,
    });
    feed.publish(6);
    const url = world.serveFeed(feed);
    const { subscription } = await world.subscribe(url);

    feed.rekey('moved', true);
    await moreChecks(world, '/feed.xml', 2);
    expect(postedTitles(world)).toEqual([]);
    // The re-baseline is recorded for /feed status rather than happening silently.
    const state = await world.herald.store.feeds.get(subscription.feedUrl);
    expect(state?.rebaselinedAt).toEqual(expect.any(Number));

    const [fresh] = feed.publish(1);
    await world.discord.waitForMessages(world.channel.id, 1);
    expect(postedTitles(world)).toEqual([fresh!.title]);
  });

  it('posts both of two items that share a guid, each once, whether they appear together or one after the other', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Sloppy');
    feed.publish(3);
    const url = world.serveFeed(feed);
    await world.subscribe(url);

    const together = feed.publish(2, { guid: 'same-guid' });
    await world.discord.waitForMessages(world.channel.id, 2);
    // A later post reusing a guid already announced is still a different post.
    const [later] = feed.publish(1, { guid: 'same-guid' });
    await world.discord.waitForMessages(world.channel.id, 3);
    await moreChecks(world, '/feed.xml', 2);

    expect(postedTitles(world)).toEqual([...together, later!].map((post) => post.title));
  });

  it('spreads 12 new items over three checks, 5, 5 and 2, oldest first', async (context) => {
    const { expect } = context;
    // Discord's rate limit is lifted here so that only Herald's per-check cap can hold posts back.
    const world = await openWorld(context, {
      discord: { rateLimits: { messages: { limit: 100, windowMs: 1000 } } },
    });
    const feed = new GrowingFeed('Burst');
    feed.publish(4);
    const url = world.feeds.url('/burst.xml');
    // How many posts the channel had when each request for the feed arrived.
    const postedAtRequest: number[] = [];
    world.feeds.route('/burst.xml', (_req, res) => {
      postedAtRequest.push(world.discord.messages(world.channel.id).length);
      res.writeHead(200, { 'Content-Type': 'application/rss+xml' }).end(feed.xml());
    });
    await world.subscribe(url);
    await moreChecks(world, '/burst.xml', 1);

    const added = feed.publish(12);
    const checkedBefore = postedAtRequest.length;
    const posted = await world.discord.waitForMessages(world.channel.id, 12, { timeoutMs: 15_000 });
    await moreChecks(world, '/burst.xml', 1);
    expect(postedAtRequest.length - checkedBefore).toBeGreaterThanOrEqual(3);

    expect(posted.map((message) => message.embeds[0]?.title)).toEqual(added.map((post) => post.title));
    expect(world.discord.messages(world.channel.id)).toHaveLength(12);
    // The first check that saw the 12 items posted at most 5 before the next check began, and the
    // second at most 10 in all before the third.
    const afterBurst = postedAtRequest.slice(checkedBefore);
    expect(afterBurst[0]).toBe(0);
    expect(afterBurst[1]).toBeLessThanOrEqual(5);
    expect(afterBurst[2]).toBeLessThanOrEqual(10);
  });
});
