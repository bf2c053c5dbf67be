import { afterEach, describe, expect, it } from 'vitest';
import { startWorld, type HeraldWorld } from '../support/herald-harness';
import { GrowingFeed } from '../support/synthetic-feed';

const RSS = { 'Content-Type': 'application/rss+xml' };
let world: HeraldWorld;

afterEach(async () => {
  await world.close();
});

function serveFeed(feed: GrowingFeed, path = '/feed.xml'): string {
  world.feeds.route(path, (_req, res) => {
    res.writeHead(200, RSS);
    res.end(feed.xml());
  });
  return world.feeds.url(path);
}

describe('announcing new items', () => {
  it('posts nothing at subscription, then exactly the new items, oldest first, with title, time, author and image', async () => {
    world = await startWorld();
    const feed = new GrowingFeed('Daily');
    feed.publish(5);
    const url = serveFeed(feed);

    await world.herald.subscriptions.subscribe({
      guildId: world.guild.id,
      channelId: world.channel.id,
      url,
      backfill: 0,
      mentionRoleId: null,
      createdBy: 'tester',
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(world.discord.messages(world.channel.id)).toHaveLength(0);

    const added = feed.publish(3);
    const posted = await world.discord.waitForMessages(world.channel.id, 3, { timeoutMs: 8000 });

    expect(posted.map((message) => message.embeds[0]?.title)).toEqual(added.map((post) => post.title));
    const [first] = posted;
    expect(first?.embeds[0]).toMatchObject({
      url: added[0]!.link,
      author: { name: 'Grace Hopper' },
      image: { url: added[0]!.image },
    });
    expect(Date.parse(first!.embeds[0]!.timestamp!)).toBe(added[0]!.published!.getTime());
  });
});
