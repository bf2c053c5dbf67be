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

/** What `docker stop` allows before it SIGKILLs, and Herald's own shutdown budget. */
const SHUTDOWN_BUDGET_MS = 10_000;
const BURST = 10;

describe('graceful shutdown', () => {
  it('stops on SIGTERM and on SIGINT mid-delivery with exit code 0 and a "stopped" log, and each restart carries on so every item is posted once', async () => {
    // One post per 300 ms: each signal arrives with part of the burst still queued.
    world = await startProcessWorld({
      discord: { rateLimits: { messages: { limit: 1, windowMs: 300 } } },
    });
    const { discord, channel } = world;
    const feed = new GrowingFeed('Nightly');
    feed.publish(2);
    const url = serveGrowingFeed(world.feeds, feed);
    const env = world.env();
    const posted = () => discord.messages(channel.id).map((message) => message.embeds[0]?.url);

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
    await added.answered();
    const burst = feed.publish(BURST);

    for (const [signal, postsBefore, times] of [
      ['SIGTERM', 2, 1],
      // Twice, as when a terminal's Ctrl+C reaches the bot and is passed on to it again by tsx.
      ['SIGINT', 5, 2],
    ] as const) {
      await discord.waitForMessages(channel.id, postsBefore, { timeoutMs: 15_000 });
      bot.signal(signal);
      if (times === 2) {
        await bot.waitForLog('shutting down');
        bot.signal(signal);
      }
      const exit = await bot.waitForExit(SHUTDOWN_BUDGET_MS);
      expect(exit, bot.describeOutput()).toEqual({ code: 0, signal: null });
      expect(bot.logs.find((record) => record.msg === 'shutting down')).toMatchObject({ signal });
      expect(bot.logs.at(-1)?.msg).toBe('stopped');
      // Stopped in the middle: what was posted is a prefix of the burst, the rest is still owed.
      expect(burst.map((item) => item.link).slice(0, posted().length)).toEqual(posted());
      expect(posted().length).toBeLessThan(BURST);

      bot = processes.spawn({ env });
      await bot.ready();
    }

    await discord.waitForMessages(channel.id, BURST, { timeoutMs: 15_000 }).catch(() => undefined);
    // A second copy of anything would come from the next check or the resumed outbox.
    await waitForChecks(world.feeds, '/feed.xml', 1);
    expect(posted()).toEqual(burst.map((item) => item.link));
  }, 60_000);

  it('stops cleanly, exit code 0, when SIGTERM arrives while it is still starting', async () => {
    world = await startProcessWorld();
    const bot = processes.spawn({ env: world.env() });
    // The store is open, Discord not yet logged in to: the middle of start-up.
    await bot.waitForLog('store opened');
    bot.signal('SIGTERM');

    const exit = await bot.waitForExit(SHUTDOWN_BUDGET_MS);
    expect(exit, bot.describeOutput()).toEqual({ code: 0, signal: null });
    expect(bot.logs.map((record) => record.msg)).toEqual(
      expect.arrayContaining(['shutting down', 'polling started', 'stopped']),
    );
    expect(bot.logs.at(-1)?.msg).toBe('stopped');
  });

  it('stops gracefully when SIGTERM is sent to npm itself (kill <pid>, or a container running npm start), leaving no process behind', async () => {
    world = await startProcessWorld();
    const bot = processes.spawn({ env: world.env(), mode: 'npm-start', waitTimeoutMs: 30_000 });
    await bot.ready();

    bot.signal('SIGTERM');
    // Settles only once every process of `npm start` has let go of the output.
    const exit = await bot.waitForExit(SHUTDOWN_BUDGET_MS).catch(() => null);
    expect(
      bot.logs.some((record) => record.msg === 'stopped'),
      'the bot never got the SIGTERM sent to npm: the shell npm starts dies without passing it on ' +
        "(package.json's start script needs `exec tsx src/index.ts`)\n" +
        bot.describeOutput(),
    ).toBe(true);
    expect(exit, 'part of npm start was still running').not.toBeNull();
  }, 30_000);
});
