import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HeraldProcesses,
  serveGrowingFeed,
  startProcessWorld,
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

/** npm's own lines (warnings about the machine's npm config, its banner) are not Herald's output. */
function heraldLines(output: string): string[] {
  return output.split('\n').filter((line) => line.trim() !== '' && !/^npm (warn|notice|error)/.test(line));
}

const commandRegistrations = (world: ProcessWorld) =>
  world.discord.requestLog.filter((entry) => entry.method === 'PUT' && /\/commands(\?|$)/.test(entry.path));

describe('a newcomer runs npm start', () => {
  it('creates the data folder, registers /feed and /posts, prints the invite link, announces a feed added from chat and answers /posts recent; a second start does not re-register', async () => {
    world = await startProcessWorld();
    const { discord, channel } = world;
    const database = path.join(world.dataDir, 'data', 'herald.sqlite');
    // What a newcomer's .env holds after following the README, plus what points it at the stand-ins.
    const env = {
      DISCORD_TOKEN: discord.token,
      DISCORD_API_BASE: discord.apiBase,
      DATABASE_URL: `sqlite://${database}`,
      ALLOW_PRIVATE_NETWORK_FEEDS: 'true',
      POLL_INTERVAL_SECONDS: '1',
      MIN_POLL_INTERVAL_SECONDS: '1',
    };
    const feed = new GrowingFeed('Field Notes');
    feed.publish(3);
    const url = serveGrowingFeed(world.feeds, feed);

    const first = processes.spawn({ env, mode: 'npm-start', waitTimeoutMs: 30_000 });
    const loggedIn = await first.waitForLog('logged in to Discord');
    await first.ready();
    expect(loggedIn).toMatchObject({ commandsRegistered: true });
    expect(existsSync(database)).toBe(true);
    expect(first.stdout).toContain(`https://discord.com/oauth2/authorize?client_id=${discord.applicationId}`);
    expect(
      discord
        .commands()
        .map((command) => command.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
    expect(commandRegistrations(world)).toHaveLength(1);

    const added = await discord
      .invokeCommand({
        guildId: world.guild.id,
        channelId: channel.id,
        member: world.admin,
        name: 'feed',
        subcommand: 'add',
        options: { url },
      })
      .answered();
    expect(added.ephemeral).toBe(true);
    expect(added.reply?.content).toContain('Field Notes');

    const [fresh] = feed.publish(1);
    const [announced] = await discord.waitForMessages(channel.id, 1, { timeoutMs: 10_000 });
    expect(announced?.embeds[0]).toMatchObject({ title: fresh!.title, url: fresh!.link });

    const reader = discord.addMember(world.guild.id, { username: 'reader' });
    const recent = await discord
      .invokeCommand({
        guildId: world.guild.id,
        channelId: channel.id,
        member: reader,
        name: 'posts',
        subcommand: 'recent',
      })
      .answered();
    expect(recent.reply?.content).toContain(fresh!.title);

    // Ctrl+C in the terminal: the whole process group gets SIGINT.
    await first.stop('SIGINT', 'group', 15_000);
    expect(first.logs.at(-1)?.msg).toBe('stopped');

    const second = processes.spawn({ env, mode: 'npm-start', waitTimeoutMs: 30_000 });
    expect(await second.waitForLog('logged in to Discord')).toMatchObject({ commandsRegistered: false });
    await second.ready();
    expect(commandRegistrations(world)).toHaveLength(1);
    expect(discord.commands().map((command) => command.name)).toHaveLength(2);
  }, 90_000);

  it('without DISCORD_TOKEN, exits non-zero with one message naming it and where to get one, and no stack trace', async () => {
    world = await startProcessWorld();
    // Empty, as in a .env copied from .env.example and not filled in. dotenv never overrides a
    // variable that is set, so a developer's own .env cannot supply a token here.
    const bot = processes.spawn({
      env: { DISCORD_TOKEN: '', DATABASE_URL: `sqlite://${path.join(world.dataDir, 'herald.sqlite')}` },
      mode: 'npm-start',
      waitTimeoutMs: 30_000,
    });
    const exit = await bot.closed;

    expect(exit.code, bot.describeOutput()).not.toBe(0);
    const lines = heraldLines(bot.stderr);
    expect(lines[0]).toBe('Herald cannot start: a setting needs fixing.');
    expect(lines.filter((line) => line.includes('DISCORD_TOKEN'))).toHaveLength(1);
    expect(bot.stderr).toContain('https://discord.com/developers/applications');
    expectNoStackTrace(bot);
    expect(bot.logs).toEqual([]);
  }, 30_000);

  it('reports a malformed POLL_INTERVAL_SECONDS together with the missing token in one message', async () => {
    world = await startProcessWorld();
    const bot = processes.spawn({
      env: {
        DISCORD_TOKEN: '',
        POLL_INTERVAL_SECONDS: 'abc',
        DATABASE_URL: `sqlite://${path.join(world.dataDir, 'herald.sqlite')}`,
      },
      mode: 'npm-start',
      waitTimeoutMs: 30_000,
    });
    const exit = await bot.closed;

    expect(exit.code, bot.describeOutput()).not.toBe(0);
    const lines = heraldLines(bot.stderr);
    expect(lines[0]).toBe('Herald cannot start: 2 settings need fixing.');
    expect(lines.filter((line) => line.includes('Herald cannot start'))).toHaveLength(1);
    expect(lines.some((line) => line.includes('DISCORD_TOKEN'))).toBe(true);
    expect(lines.some((line) => line.includes('POLL_INTERVAL_SECONDS') && line.includes('"abc"'))).toBe(true);
    expectNoStackTrace(bot);
    // Stopped before touching anything: no store opened, no log written.
    expect(bot.logs).toEqual([]);
  }, 30_000);

  it('with a token Discord refuses, exits non-zero with one message saying so and where to get a new one, and no stack trace', async () => {
    world = await startProcessWorld();
    const bot = processes.spawn({
      env: world.env({ DISCORD_TOKEN: 'MTIzNDU2Nzg5.wrong.token' }),
      mode: 'npm-start',
      waitTimeoutMs: 30_000,
    });
    const exit = await bot.closed;

    expect(exit.code, bot.describeOutput()).not.toBe(0);
    const lines = heraldLines(bot.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Herald cannot start: Discord refused DISCORD_TOKEN/);
    expect(lines[0]).toContain('https://discord.com/developers/applications');
    expectNoStackTrace(bot);
  }, 30_000);

  it('when Discord cannot be reached, exits non-zero with one message naming the address, and no stack trace', async () => {
    world = await startProcessWorld();
    const apiBase = `http://127.0.0.1:${await closedPort()}/api`;
    const bot = processes.spawn({
      env: world.env({ DISCORD_API_BASE: apiBase }),
      mode: 'npm-start',
      waitTimeoutMs: 30_000,
    });
    const exit = await bot.closed;

    expect(exit.code, bot.describeOutput()).not.toBe(0);
    const lines = heraldLines(bot.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Herald cannot start: could not reach Discord at ${apiBase}`);
    expect(lines[0]).toContain('DISCORD_API_BASE');
    expectNoStackTrace(bot);
  }, 30_000);
});

function expectNoStackTrace(bot: HeraldProcess): void {
  const frame = /\bat .+:\d+:\d+\)?(\\n|$)/m;
  expect(bot.stderr).not.toMatch(frame);
  expect(bot.stdout).not.toMatch(frame);
  expect(bot.stderr).not.toMatch(/\w+Error\b|node:internal/);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
