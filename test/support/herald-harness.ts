import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { startHerald, type Herald, type HeraldOptions } from '../../src/index';
import { createSilentLogger } from '../../src/logger';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions } from './fake-discord/index';
import { startFeedServer, type FeedServer } from './feed-server';

/** A complete test world: the real Herald, the local Discord, a feed server and a SQLite file. */
export interface HeraldWorld {
  discord: FakeDiscord;
  feeds: FeedServer;
  herald: Herald;
  config: Config;
  /** The temporary folder holding the SQLite file. */
  dataDir: string;
  guild: ReturnType<FakeDiscord['addGuild']>;
  channel: ReturnType<FakeDiscord['addChannel']>;
  /** Stops Herald and starts it again on the same database. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Options for a test world. */
export interface WorldOptions {
  discord?: FakeDiscordOptions;
  /** Extra environment on top of the test defaults (1 s polling, private feeds allowed). */
  env?: Record<string, string>;
  herald?: Omit<HeraldOptions, 'logger'>;
}

/** The environment a test world runs Herald with. */
export function testEnvironment(
  discord: FakeDiscord,
  dataDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DISCORD_TOKEN: discord.token,
    DISCORD_API_BASE: discord.apiBase,
    DATABASE_URL: `sqlite://${path.join(dataDir, 'herald.sqlite')}`,
    POLL_INTERVAL_SECONDS: '1',
    MIN_POLL_INTERVAL_SECONDS: '1',
    FETCH_TIMEOUT_SECONDS: '2',
    ALLOW_PRIVATE_NETWORK_FEEDS: 'true',
    LOG_LEVEL: 'error',
    ...extra,
  };
}

/** Starts a world with one server and one text channel. */
export async function startWorld(options: WorldOptions = {}): Promise<HeraldWorld> {
  const discord = await startFakeDiscord(options.discord);
  const feeds = await startFeedServer();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-e2e-'));
  const guild = discord.addGuild({ name: 'Readers' });
  const channel = discord.addChannel(guild.id, { name: 'news' });
  const config = loadConfig(testEnvironment(discord, dataDir, options.env), { requireToken: true });
  const heraldOptions: HeraldOptions = {
    logger: createSilentLogger(),
    deliveryRetry: { baseMs: 50, maxMs: 500 },
    ...options.herald,
  };
  let herald = await startHerald(config, heraldOptions);

  const world: HeraldWorld = {
    discord,
    feeds,
    get herald() {
      return herald;
    },
    config,
    dataDir,
    guild,
    channel,
    async restart() {
      await herald.stop();
      herald = await startHerald(config, heraldOptions);
    },
    async close() {
      await herald.stop().catch(() => undefined);
      await discord.close();
      await feeds.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return world;
}
