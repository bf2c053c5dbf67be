import { afterEach, describe, expect, it } from 'vitest';
import {
  HeraldProcesses,
  serveGrowingFeed,
  startProcessWorld,
  waitForChecks,
  type ProcessWorld,
} from '../support/herald-process';
import { GrowingFeed } from '../support/synthetic-feed';

const processes = new HeraldProcesses();
let world: ProcessWorld | undefined;

afterEach(async () => {
  await processes.killAll();
  await world?.close();
  world = undefined;
});

describe('restarting on the same database', () => {
  it('re-posts nothing after a restart, keeps the subscription, and posts an item published afterwards once', async () => {
    world = await startProcessWorld();
    const { discord, channel } = world;
    const feed = new GrowingFeed('Weekly');
    feed.publish(4);
    const url = serveGrowingFeed(world.feeds, feed);
    const env = world.env();

    const first = processes.spawn({ env });
    await first.ready();
    const added = discord.invokeCommand({
      guildId: world.guild.id,
      channelId: channel.id,
      member: world.admin,
      name: 'feed',
      subcommand: 'add',
      options: { url, backfill: 1 },
    });
    expect((await added.answered()).reply?.content).toContain('Weekly');
    const before = feed.publish(2);
    await discord.waitForMessages(channel.id, 3);
    expect((await first.stop('SIGTERM')).code).toBe(0);

    const second = processes.spawn({ env });
    await second.ready();
    // Every check re-reads the whole feed (its body differs each time), so only the stored seen
    // keys can keep the six items already handled from being posted again.
    await waitForChecks(world.feeds, '/feed.xml', 2);
    const titles = () => discord.messages(channel.id).map((message) => message.embeds[0]?.title);
    expect(titles()).toEqual(['Weekly post 4', ...before.map((item) => item.title)]);

    const listed = discord.invokeCommand({
      guildId: world.guild.id,
      channelId: channel.id,
      member: world.admin,
      name: 'feed',
      subcommand: 'list',
    });
    expect((await listed.answered()).reply?.content).toContain('Weekly');

    const [after] = feed.publish(1);
    await discord.waitForMessages(channel.id, 4);
    // A second copy would come from the next check finding the item unseen.
    await waitForChecks(world.feeds, '/feed.xml', 1);
    expect(titles()).toEqual(['Weekly post 4', ...before.map((item) => item.title), after!.title]);
  }, 60_000);
});
