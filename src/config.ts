import { z } from 'zod';

/** Herald's validated configuration, read once at start-up. */
export interface Config {
  discordToken: string | null;
  discordApiBase: string;
  databaseUrl: string;
  pollIntervalSeconds: number;
  minPollIntervalSeconds: number;
  fetchTimeoutSeconds: number;
  maxFeedBytes: number;
  allowPrivateNetworkFeeds: boolean;
  maxFeedsPerGuild: number;
  fetchConcurrency: number;
  hostConcurrency: number;
  devGuildId: string | null;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Start-up stops with this when any variable is missing or malformed; the message names each one. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Herald cannot start: ${problems.length === 1 ? 'a setting needs' : `${problems.length} settings need`} fixing.\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nSet them in the environment or in a .env file (see .env.example).',
    );
    this.name = 'ConfigError';
  }
}

const TOKEN_HELP =
  'DISCORD_TOKEN is missing: create an application at https://discord.com/developers/applications, ' +
  'open Bot → Reset Token, and put the token in .env as DISCORD_TOKEN=…';

function integer(name: string, fallback: number, min: number, max: number) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a whole number from ${min} to ${max} (got "${raw}"); leave it unset for ${fallback}`,
        });
        return z.NEVER;
      }
      return value;
    });
}

function boolean(name: string) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return false;
      const lower = raw.toLowerCase();
      if (['true', '1', 'yes'].includes(lower)) return true;
      if (['false', '0', 'no'].includes(lower)) return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false (got "${raw}")` });
      return z.NEVER;
    });
}

function httpUrl(name: string, fallback: string) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw;
      try {
        const url = new URL(value);
        if (url.protocol === 'http:' || url.protocol === 'https:') return value.replace(/\/+$/, '');
      } catch {
        // reported below
      }
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be an http(s) URL such as ${fallback} (got "${raw}")`,
      });
      return z.NEVER;
    });
}

function snowflake(name: string) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return null;
      if (/^\d{15,21}$/.test(raw)) return raw;
      ctx.addIssue({
        code: 'custom',
        message: `${name} must be a server id (right-click the server with Developer Mode on → Copy Server ID), got "${raw}"`,
      });
      return z.NEVER;
    });
}

const environmentSchema = z.object({
  DISCORD_TOKEN: z
    .string()
    .trim()
    .optional()
    .transform((raw) => (raw ? raw : null)),
  DISCORD_API_BASE: httpUrl('DISCORD_API_BASE', 'https://discord.com/api'),
  DATABASE_URL: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      const value = raw ? raw : 'sqlite://data/herald.sqlite';
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `DATABASE_URL must be a store URL such as sqlite://data/herald.sqlite (got "${raw}")`,
        });
        return z.NEVER;
      }
      return value;
    }),
  POLL_INTERVAL_SECONDS: integer('POLL_INTERVAL_SECONDS', 600, 1, 86_400),
  MIN_POLL_INTERVAL_SECONDS: integer('MIN_POLL_INTERVAL_SECONDS', 60, 1, 86_400),
  FETCH_TIMEOUT_SECONDS: integer('FETCH_TIMEOUT_SECONDS', 15, 1, 300),
  MAX_FEED_BYTES: integer('MAX_FEED_BYTES', 10_485_760, 1024, 1_073_741_824),
  ALLOW_PRIVATE_NETWORK_FEEDS: boolean('ALLOW_PRIVATE_NETWORK_FEEDS'),
  MAX_FEEDS_PER_GUILD: integer('MAX_FEEDS_PER_GUILD', 100, 1, 100_000),
  FETCH_CONCURRENCY: integer('FETCH_CONCURRENCY', 32, 1, 1024),
  HOST_CONCURRENCY: integer('HOST_CONCURRENCY', 4, 1, 256),
  DEV_GUILD_ID: snowflake('DEV_GUILD_ID'),
  LOG_LEVEL: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      const value = raw ? raw.toLowerCase() : 'info';
      if (value === 'debug' || value === 'info' || value === 'warn' || value === 'error') return value;
      ctx.addIssue({
        code: 'custom',
        message: `LOG_LEVEL must be debug, info, warn or error (got "${raw}")`,
      });
      return z.NEVER;
    }),
});

/**
 * Reads and validates the environment once. With `requireToken` (the bot itself), a missing
 * DISCORD_TOKEN is one of the problems; tools such as `preview` run without it.
 */
export function loadConfig(env: NodeJS.ProcessEnv, options: { requireToken: boolean }): Config {
  const problems: string[] = [];
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => issue.message));
  if (options.requireToken && !env['DISCORD_TOKEN']?.trim()) problems.unshift(TOKEN_HELP);
  if (parsed.success && parsed.data.MIN_POLL_INTERVAL_SECONDS > parsed.data.POLL_INTERVAL_SECONDS) {
    problems.push(
      `MIN_POLL_INTERVAL_SECONDS (${parsed.data.MIN_POLL_INTERVAL_SECONDS}) must not exceed POLL_INTERVAL_SECONDS (${parsed.data.POLL_INTERVAL_SECONDS})`,
    );
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    discordToken: e.DISCORD_TOKEN,
    discordApiBase: e.DISCORD_API_BASE,
    databaseUrl: e.DATABASE_URL,
    pollIntervalSeconds: e.POLL_INTERVAL_SECONDS,
    minPollIntervalSeconds: e.MIN_POLL_INTERVAL_SECONDS,
    fetchTimeoutSeconds: e.FETCH_TIMEOUT_SECONDS,
    maxFeedBytes: e.MAX_FEED_BYTES,
    allowPrivateNetworkFeeds: e.ALLOW_PRIVATE_NETWORK_FEEDS,
    maxFeedsPerGuild: e.MAX_FEEDS_PER_GUILD,
    fetchConcurrency: e.FETCH_CONCURRENCY,
    hostConcurrency: e.HOST_CONCURRENCY,
    devGuildId: e.DEV_GUILD_ID,
    logLevel: e.LOG_LEVEL,
  };
}
