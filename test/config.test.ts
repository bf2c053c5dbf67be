import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';

function problemsOf(env: NodeJS.ProcessEnv, requireToken = true): string[] {
  try {
    loadConfig(env, { requireToken });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('gives the documented defaults when only the token is set', () => {
    const config = loadConfig({ DISCORD_TOKEN: 'abc' }, { requireToken: true });
    expect(config).toEqual({
      discordToken: 'abc',
      discordApiBase: 'https://discord.com/api',
      databaseUrl: 'sqlite://data/herald.sqlite',
      pollIntervalSeconds: 600,
      minPollIntervalSeconds: 60,
      fetchTimeoutSeconds: 15,
      maxFeedBytes: 10_485_760,
      allowPrivateNetworkFeeds: false,
      maxFeedsPerGuild: 100,
      fetchConcurrency: 32,
      hostConcurrency: 4,
      devGuildId: null,
      logLevel: 'info',
    });
  });

  it('explains where to get a token when DISCORD_TOKEN is missing', () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/DISCORD_TOKEN is missing/);
    expect(problems[0]).toMatch(/discord\.com\/developers\/applications/);
  });

  it('runs without a token for tools that do not log in', () => {
    expect(loadConfig({}, { requireToken: false }).discordToken).toBeNull();
  });

  it('names every bad variable in one error, with the fix', () => {
    const problems = problemsOf({
      POLL_INTERVAL_SECONDS: 'ten',
      FETCH_TIMEOUT_SECONDS: '0',
      ALLOW_PRIVATE_NETWORK_FEEDS: 'maybe',
      DISCORD_API_BASE: 'ftp://discord',
      DEV_GUILD_ID: 'my-server',
      LOG_LEVEL: 'loud',
    });
    const text = problems.join('\n');
    for (const name of [
      'DISCORD_TOKEN',
      'POLL_INTERVAL_SECONDS',
      'FETCH_TIMEOUT_SECONDS',
      'ALLOW_PRIVATE_NETWORK_FEEDS',
      'DISCORD_API_BASE',
      'DEV_GUILD_ID',
      'LOG_LEVEL',
    ]) {
      expect(text).toContain(name);
    }
    expect(problems).toHaveLength(7);
  });

  it('reads booleans and numbers written the usual ways', () => {
    const config = loadConfig(
      {
        ALLOW_PRIVATE_NETWORK_FEEDS: 'TRUE',
        POLL_INTERVAL_SECONDS: ' 120 ',
        MIN_POLL_INTERVAL_SECONDS: '5',
        DISCORD_API_BASE: 'http://127.0.0.1:8080/api/',
      },
      { requireToken: false },
    );
    expect(config.allowPrivateNetworkFeeds).toBe(true);
    expect(config.pollIntervalSeconds).toBe(120);
    expect(config.minPollIntervalSeconds).toBe(5);
    expect(config.discordApiBase).toBe('http://127.0.0.1:8080/api');
  });

  it('refuses a floor above the base interval', () => {
    expect(problemsOf({ POLL_INTERVAL_SECONDS: '60', MIN_POLL_INTERVAL_SECONDS: '120' }, false)).toEqual([
      expect.stringContaining('MIN_POLL_INTERVAL_SECONDS (120) must not exceed POLL_INTERVAL_SECONDS (60)'),
    ]);
  });

  it('says how to fix it in the error message shown at start-up', () => {
    expect(() => loadConfig({}, { requireToken: true })).toThrow(/\.env\.example/);
  });
});
