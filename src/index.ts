import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { Client, DiscordjsError, DiscordjsErrorCodes, Events, GatewayIntentBits } from 'discord.js';
import { config as loadDotenv } from 'dotenv';
import { commands } from '../commands';
import { ConfigError, loadConfig, type Config } from './config';
import { createRestAnnouncer } from './delivery/announcer';
import { createDeliverer, type QueuedAnnouncement, type RetryPolicy } from './delivery/deliverer';
import { renderFailureNotice } from './delivery/notices';
import { renderMessage, renderMinimalMessage } from './delivery/render';
import type { CommandContext } from './discord/context';
import { inviteUrl, registerCommandsIfChanged } from './discord/register-commands';
import { createInteractionRouter } from './discord/router';
import { createFeedSource } from './feeds/fetch';
import type { Feed, FeedItem } from './feeds/types';
import { createLogger, type Logger } from './logger';
import { createConcurrencyGate } from './poller/concurrency-gate';
import { createFeedChecker, MAX_POSTS_PER_CHECK, type CheckPolicy } from './poller/feed-checker';
import { createPostQueries } from './poller/post-queries';
import { createScheduler } from './poller/scheduler';
import { createSubscriptionService, type SubscriptionService } from './poller/subscription-service';
import {
  createKeyvStore,
  SchemaVersionTooNewError,
  StoreOpenError,
  UnsupportedDatabaseUrlError,
  type Store,
  type Subscription,
} from './store';
import { USER_AGENT } from './version';

/** Knobs tests turn; production uses the defaults. */
export interface HeraldOptions {
  logger?: Logger;
  /** Failure thresholds and similar, on top of the configuration's intervals. */
  checkPolicy?: Partial<CheckPolicy>;
  deliveryRetry?: RetryPolicy;
  /** Working directory that a relative sqlite:// path resolves against. */
  cwd?: string;
}

/** A running Herald. */
export interface Herald {
  client: Client<true>;
  store: Store;
  subscriptions: SubscriptionService;
  /** Resolves when no feed check and no post is in flight. */
  idle(): Promise<void>;
  /** Stops polling and delivery, logs out and closes the store, within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Shutdown gets at most this long: what is in flight either finishes or is safely re-done later. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * The composition root: builds every concrete adapter (store, HTTP feed source, Discord client and
 * REST announcer) and hands them to the parts that need them.
 */
export async function startHerald(config: Config, options: HeraldOptions = {}): Promise<Herald> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  if (!config.discordToken) throw new ConfigError(['DISCORD_TOKEN is missing']);

  const store = await createKeyvStore(config.databaseUrl, {
    logger,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const source = createFeedSource({
    timeoutMs: config.fetchTimeoutSeconds * 1000,
    maxBytes: config.maxFeedBytes,
    allowPrivateNetwork: config.allowPrivateNetworkFeeds,
    userAgent: USER_AGENT,
  });
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: config.discordApiBase },
    allowedMentions: { parse: [] },
  });

  const composeAnnouncement = (
    item: FeedItem,
    feed: Feed,
    subscription: Subscription,
  ): QueuedAnnouncement => {
    const renderOptions = { mentionRoleId: subscription.mentionRoleId ?? null };
    return {
      message: renderMessage(item, feed, renderOptions),
      fallback: renderMinimalMessage(item, feed, renderOptions),
    };
  };
  const deliverer = createDeliverer({
    store,
    announcer: createRestAnnouncer(client.rest),
    logger: logger.child({ part: 'delivery' }),
    ...(options.deliveryRetry ? { retry: options.deliveryRetry } : {}),
  });
  const policy: CheckPolicy = {
    baseSeconds: config.pollIntervalSeconds,
    minSeconds: config.minPollIntervalSeconds,
    ...options.checkPolicy,
  };
  const checker = createFeedChecker({
    store,
    source,
    gate: createConcurrencyGate({ global: config.fetchConcurrency, perHost: config.hostConcurrency }),
    delivery: deliverer,
    composeAnnouncement,
    composeFailureNotice: renderFailureNotice,
    policy,
    logger: logger.child({ part: 'poller' }),
  });
  const scheduler = createScheduler({
    feeds: store.feeds,
    checker,
    baseSeconds: config.pollIntervalSeconds,
    onError: (url, error) => logger.error({ err: error, url }, 'feed check crashed'),
  });
  const subscriptions = createSubscriptionService({
    store,
    source,
    scheduler,
    delivery: deliverer,
    composeAnnouncement,
    policy: {
      baseSeconds: config.pollIntervalSeconds,
      minSeconds: config.minPollIntervalSeconds,
      maxFeedsPerGuild: config.maxFeedsPerGuild,
    },
  });
  const context: CommandContext = {
    subscriptions,
    posts: createPostQueries(store),
    config,
    logger,
  };
  const route = createInteractionRouter(commands, context, logger.child({ part: 'commands' }));
  client.on(Events.InteractionCreate, (interaction) => {
    void route(interaction);
  });
  client.on(Events.ChannelDelete, (channel) => {
    if ('guildId' in channel)
      void pauseAndLog(
        store.subscriptions.pauseAll(channel.guildId, { channelId: channel.id }, 'The channel was deleted.'),
        logger,
        'channel deleted; subscriptions paused',
      );
  });
  client.on(Events.GuildDelete, (guild) => {
    if (!guild.available) return;
    void pauseAndLog(
      store.subscriptions.pauseAll(guild.id, {}, 'Herald was removed from the server.'),
      logger,
      'removed from a server; subscriptions paused',
    );
  });
  client.on(Events.Error, (error) => logger.error({ err: error }, 'Discord client error'));

  let readyClient: Client<true>;
  let registered: boolean;
  try {
    const ready = once(client, Events.ClientReady) as Promise<[Client<true>]>;
    await client.login(config.discordToken);
    [readyClient] = await ready;
    registered = await registerCommandsIfChanged(
      client.rest,
      commands.map((command) => command.data),
      { applicationId: readyClient.application.id, guildId: config.devGuildId },
      store.meta,
    );
  } catch (error) {
    // A refused token or an unreachable Discord must not leave the database and sockets open.
    await client.destroy().catch(() => undefined);
    await source.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
  const applicationId = readyClient.application.id;
  logger.info(
    { user: readyClient.user.tag, guilds: readyClient.guilds.cache.size, commandsRegistered: registered },
    'logged in to Discord',
  );
  logger.info(`invite Herald to a server: ${inviteUrl(applicationId)}`);

  await scheduler.start();
  await deliverer.resumePending(MAX_POSTS_PER_CHECK);
  logger.info({ feeds: scheduler.size() }, 'polling started');

  let stopping: Promise<void> | null = null;
  return {
    client: readyClient,
    store,
    subscriptions,
    async idle() {
      await scheduler.idle();
      await deliverer.idle();
    },
    stop(timeoutMs = SHUTDOWN_TIMEOUT_MS) {
      stopping ??= (async () => {
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(0, deadline - Date.now());
        // Stop taking new work first, then let in-flight checks and posts finish while there is
        // time; anything cut off is still in the outbox and is re-sent, with its nonce, next start.
        await scheduler.stop(left() * 0.5);
        await deliverer.stop(left() * 0.6);
        await client.destroy();
        await source.close();
        await store.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

/** Logs what a gateway event paused; a failure is logged rather than left unhandled. */
async function pauseAndLog(pausing: Promise<Subscription[]>, logger: Logger, message: string): Promise<void> {
  try {
    const paused = await pausing;
    if (paused.length > 0) logger.info({ paused: paused.map((subscription) => subscription.id) }, message);
  } catch (error) {
    logger.error({ err: error }, 'could not pause subscriptions');
  }
}

/** Network failures that mean Discord (or the REST proxy in DISCORD_API_BASE) cannot be reached. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
]);

/**
 * Start-up failures an operator can fix, described with the fix; null for anything else, which is
 * a bug and keeps its stack trace in the log.
 */
function describeStartFailure(error: unknown, config: Config): string | null {
  if (error instanceof DiscordjsError && error.code === DiscordjsErrorCodes.TokenInvalid) {
    return (
      'Discord refused DISCORD_TOKEN (it is mistyped, or was reset). Open ' +
      'https://discord.com/developers/applications → your application → Bot → Reset Token, and put ' +
      'the new token in .env as DISCORD_TOKEN=…'
    );
  }
  if (
    error instanceof UnsupportedDatabaseUrlError ||
    error instanceof StoreOpenError ||
    error instanceof SchemaVersionTooNewError
  ) {
    return error.message;
  }
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code && UNREACHABLE_CODES.has(code)) {
      return (
        `could not reach Discord at ${config.discordApiBase} (${code}). Check the network connection` +
        (config.discordApiBase === 'https://discord.com/api' ? '.' : ' and DISCORD_API_BASE.')
      );
    }
  }
  return null;
}

/** `npm start`: load .env, validate, start, and stop cleanly on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  loadDotenv({ quiet: true });
  let config: Config;
  try {
    config = loadConfig(process.env, { requireToken: true });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  let herald: Herald | null = null;
  let shuttingDown = false;
  const stop = (running: Herald) => {
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      // One Ctrl+C can arrive more than once (the terminal signals the whole group and npm or tsx
      // pass it on too). Keeping the listener stops a repeat from killing the process mid-stop;
      // the stop is bounded anyway, and SIGKILL is always there.
      logger.info({ signal }, 'already shutting down');
      return;
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS + 1000);
    force.unref();
    // A signal during start-up is acted on as soon as Herald has started (below).
    if (herald) stop(herald);
  };
  // Listening before starting: until a listener exists, SIGTERM kills the process outright, and a
  // signal sent just as start-up ends (a supervisor that stops what it just started) would skip
  // the clean stop.
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  try {
    herald = await startHerald(config, { logger });
  } catch (error) {
    const problem = describeStartFailure(error, config);
    if (problem) {
      // Something the operator can fix: say what and how, without a stack trace.
      process.stderr.write(`Herald cannot start: ${problem}\n`);
    } else {
      logger.fatal({ err: error }, 'Herald could not start');
    }
    process.exit(1);
  }
  if (shuttingDown) stop(herald);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
