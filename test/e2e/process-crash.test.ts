import { afterEach, describe, expect, it } from 'vitest';
import {
  HeraldProcesses,
  serveGrowingFeed,
  startProcessWorld,
  waitForChecks,
  type HeraldProcess,
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

const BURST = 30;
const KILLS = 10;

/** A small seeded generator, so a failing run can be replayed with HERALD_CRASH_SEED. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('kill -9 while delivering', () => {
  it('posts every item of a burst exactly once, in order, across ten SIGKILLs at random moments', async () => {
    const seed = Number(process.env['HERALD_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    // One post per 150 ms per channel: the burst takes several seconds and each post is a separate
    // moment a kill can land in.
    world = await startProcessWorld({
      discord: { rateLimits: { messages: { limit: 1, windowMs: 150 } } },
    });
    const { discord, channel } = world;
    const feed = new GrowingFeed('Burst');
    feed.publish(3);
    const url = serveGrowingFeed(world.feeds, feed);
    const env = world.env();

    let bot: HeraldProcess = processes.spawn({ env });
    await bot.ready();
    const added = discord.invokeCommand({
      guildId: world.guild.id,
      channelId: channel.id,
      member: world.admin,
      name: 'feed',
      subcommand: 'add',
      options: { url, backfill: 0 },
    });
    expect((await added.answered()).reply?.content).toContain('Burst');

    const burst = feed.publish(BURST);
    // Ten distinct message counts, so every process lives through at least one post before its kill.
    const counts = Array.from({ length: BURST }, (_, index) => index);
    const thresholds = Array.from(
      { length: KILLS },
      () => counts.splice(Math.floor(random() * counts.length), 1)[0]!,
    );
    thresholds.sort((a, b) => a - b);
    const plan = `seed ${seed}, kills after ${thresholds.join(', ')} message(s)`;
    for (const threshold of thresholds) {
      if (threshold === 0) {
        // Before the first post: in start-up, or in the first check, which queues the burst.
        await bot.ready();
        await sleep(random() * 1200);
      } else {
        await discord.waitForMessages(channel.id, threshold, { timeoutMs: 20_000 });
        // Half the kills come the moment Discord stored a post, before the bot can have taken it
        // off its outbox (the restart re-sends it, and the nonce must prevent a second message);
        // the rest anywhere before the next post.
        if (random() < 0.5) await sleep(random() * 300);
      }
      await bot.kill();
      bot = processes.spawn({ env });
    }

    // A lost item never arrives: stop waiting and let the tally below name it.
    await discord.waitForMessages(channel.id, BURST, { timeoutMs: 30_000 }).catch(() => undefined);
    // A duplicate would come from a check or the resumed outbox of this last process.
    await bot.ready();
    await waitForChecks(world.feeds, '/feed.xml', 2);

    const messages = discord.messages(channel.id);
    const timesPosted = new Map<string, number>();
    for (const message of messages) {
      const link = message.embeds[0]?.url ?? '(no link)';
      timesPosted.set(link, (timesPosted.get(link) ?? 0) + 1);
    }
    expect(Object.fromEntries(timesPosted), plan).toEqual(
      Object.fromEntries(burst.map((item) => [item.link, 1])),
    );
    expect(
      messages.map((message) => message.embeds[0]?.title),
      plan,
    ).toEqual(burst.map((item) => item.title));
  }, 90_000);
});
