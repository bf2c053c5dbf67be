import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { startHerald, type Herald, type HeraldOptions } from '../../src/index';
import { createSilentLogger } from '../../src/logger';
import type { SubscribeRequest, SubscribeResult } from '../../src/poller/subscription-service';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions } from './fake-discord/index';
import { startFeedServer, type FeedServer } from './feed-server';
import type { GrowingFeed } from './synthetic-feed';

/** What `subscribe` lets a test leave out: everything but the URL has a default. */
export type SubscribeOptions = Partial<Omit<SubscribeRequest, 'url'>>;

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
  /**
   * Stops Herald and starts it again on the same database; `whileStopped` runs in between (say,
   * to delete a channel while the bot is offline, so it never sees the gateway event).
   */
  restart(whileStopped?: () => void | Promise<void>): Promise<void>;
  /** Subscribes a channel (default: the world's channel, backfill 0, no role) through the service `/feed add` uses. */
  subscribe(url: string, options?: SubscribeOptions): Promise<SubscribeResult>;
  /** Serves `feed` as RSS at `path` (its current state on every request) and returns the feed's URL. */
  serveFeed(feed: GrowingFeed, path?: string): string;
  /** Resolves once the feed server has received at least `count` requests to `path`. */
  waitForRequests(path: string, count: number, options?: WaitUntilOptions): Promise<void>;
  /**
   * Resolves once `count` requests to `path` were answered and Herald has finished handling the
   * last of them (the check wrote its state and released its posts to delivery).
   */
  waitForChecks(path: string, count: number, options?: WaitUntilOptions): Promise<void>;
  close(): Promise<void>;
}

/** Options for a test world. */
export interface WorldOptions {
  discord?: FakeDiscordOptions;
  /** Extra environment on top of the test defaults (1 s polling, private feeds allowed). */
  env?: Record<string, string>;
  herald?: Omit<HeraldOptions, 'logger'>;
}

/** How long `waitUntil` waits and what it says when it gives up. */
export interface WaitUntilOptions {
  /** Default 10 s: generous, so a loaded CI machine is slow rather than failing. */
  timeoutMs?: number;
  /** Names the awaited condition in the timeout error. */
  what?: string;
}

/** A test waited for something that did not happen in time. */
export class WaitUntilTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, options?: ErrorOptions) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
    this.name = 'WaitUntilTimeoutError';
  }
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

/**
 * Resolves with the first value `probe` returns other than undefined. For state with no change
 * event to listen to (the feed server, the store); prefer `discord.waitFor` for Discord state.
 */
export async function waitUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  options: WaitUntilOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      // A probe may read something not there yet (a store mid-restart); keep the error for the report.
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new WaitUntilTimeoutError(
        options.what ?? 'a condition',
        timeoutMs,
        lastError === undefined ? undefined : { cause: lastError },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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
  let herald: Herald;
  try {
    herald = await startHerald(config, heraldOptions);
  } catch (error) {
    await discord.close();
    await feeds.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  const waitForRequests = (requestPath: string, count: number, waitOptions: WaitUntilOptions = {}) =>
    waitUntil(() => (feeds.requestsTo(requestPath).length >= count ? true : undefined), {
      what: `${count} request(s) to ${requestPath}`,
      ...waitOptions,
    }).then(() => undefined);

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
    async restart(whileStopped) {
      await herald.stop();
      await whileStopped?.();
      herald = await startHerald(config, heraldOptions);
    },
    subscribe(url, subscribeOptions = {}) {
      return herald.subscriptions.subscribe({
        guildId: guild.id,
        channelId: channel.id,
        backfill: 0,
        mentionRoleId: null,
        createdBy: 'tester',
        ...subscribeOptions,
        url,
      });
    },
    serveFeed(feed, feedPath = '/feed.xml') {
      feeds.route(feedPath, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/rss+xml' });
        res.end(feed.xml());
      });
      return feeds.url(feedPath);
    },
    waitForRequests,
    async waitForChecks(requestPath, count, waitOptions = {}) {
      await waitForRequests(requestPath, count, waitOptions);
      await feeds.requestsTo(requestPath)[count - 1]?.outcome;
      await herald.idle();
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
