import type { Client } from 'discord.js';
import { HTTPError, REST, Routes } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDiscord, FakeDiscordOptions } from '../support/fake-discord/index';
import { startFakeDiscord } from '../support/fake-discord/index';
import { loginClient } from '../support/fake-discord/login-client';

const MESSAGES = 'POST /channels/:channel/messages';

let discord: FakeDiscord | undefined;
let client: Client<true> | undefined;

afterEach(async () => {
  await client?.destroy();
  await discord?.close();
  client = undefined;
  discord = undefined;
});

async function setup(options: FakeDiscordOptions = {}) {
  discord = await startFakeDiscord(options);
  const guild = discord.addGuild();
  const a = discord.addChannel(guild.id, { name: 'a' });
  const b = discord.addChannel(guild.id, { name: 'b' });
  return { discord, guild, a, b };
}

/** A raw request with the bot token, for looking at headers. */
function raw(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  const request: RequestInit = {
    method: init.method ?? 'GET',
    headers: { Authorization: `Bot ${discord!.token}`, 'Content-Type': 'application/json' },
  };
  if (init.body !== undefined) request.body = JSON.stringify(init.body);
  return fetch(`${discord!.apiBase}/v10${path}`, request);
}

describe('headers', () => {
  it('counts message posts per channel in one bucket shared by all channels', async () => {
    const { a, b } = await setup({ rateLimits: { messages: { limit: 3, windowMs: 60_000 } } });
    const first = await raw(`/channels/${a.id}/messages`, { method: 'POST', body: { content: '1' } });
    const second = await raw(`/channels/${a.id}/messages`, { method: 'POST', body: { content: '2' } });
    const other = await raw(`/channels/${b.id}/messages`, { method: 'POST', body: { content: '3' } });

    expect([first, second, other].map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual([
      '2',
      '1',
      '2',
    ]);
    expect(first.headers.get('x-ratelimit-limit')).toBe('3');
    expect(first.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
    expect(other.headers.get('x-ratelimit-bucket')).toBe(first.headers.get('x-ratelimit-bucket'));
    expect(Number(first.headers.get('x-ratelimit-reset-after'))).toBeGreaterThan(0);
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  it('answers a post over the limit with 429, Retry-After and retry_after, without posting it', async () => {
    const { a } = await setup({ rateLimits: { messages: { limit: 1, windowMs: 60_000 } } });
    await raw(`/channels/${a.id}/messages`, { method: 'POST', body: { content: 'ok' } });
    const limited = await raw(`/channels/${a.id}/messages`, {
      method: 'POST',
      body: { content: 'too many' },
    });
    const body = (await limited.json()) as { message: string; retry_after: number; global: boolean };

    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(limited.headers.get('x-ratelimit-global')).toBeNull();
    expect(body.global).toBe(false);
    expect(body.retry_after).toBeGreaterThan(59);
    expect(discord!.messages(a.id).map((m) => m.content)).toEqual(['ok']);
    expect(discord!.stats).toMatchObject({ rateLimited: 1, invalid: 1 });
  });

  it('marks a global 429 with X-RateLimit-Global', async () => {
    const { a, b } = await setup({ rateLimits: { global: { limit: 2, windowMs: 60_000 } } });
    await raw(`/channels/${a.id}`);
    await raw(`/channels/${b.id}`);
    const limited = await raw(`/channels/${a.id}`);
    const body = (await limited.json()) as { global: boolean };

    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-global')).toBe('true');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('global');
    expect(body.global).toBe(true);
    expect(discord!.stats.globalRateLimited).toBe(1);
  });

  it('leaves interaction callbacks out of the global limit', async () => {
    const { a } = await setup({ rateLimits: { global: { limit: 1, windowMs: 60_000 } } });
    await raw(`/channels/${a.id}`);
    const callback = await fetch(`${discord!.apiBase}/v10/interactions/123456789012345678/token/callback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'x' } }),
    });
    // Not rate limited: refused only because no such interaction exists.
    expect([callback.status, ((await callback.json()) as { code: number }).code]).toEqual([404, 10062]);
  });
});

describe('the discord.js client against real limits', () => {
  it('waits out a 429 when two clients share a channel bucket and posts each message exactly once', async () => {
    const { a } = await setup({ rateLimits: { messages: { limit: 2, windowMs: 1000 } } });
    client = await loginClient(discord!);
    const other = new REST({ api: discord!.apiBase }).setToken(discord!.token);
    const post = (rest: REST, content: string) =>
      rest.post(Routes.channelMessages(a.id), { body: { content } });

    await Promise.all([
      post(client.rest, 'A1'),
      post(other, 'B1'),
      post(client.rest, 'A2'),
      post(other, 'B2'),
    ]);

    expect(
      discord!
        .messages(a.id)
        .map((m) => m.content)
        .sort(),
    ).toEqual(['A1', 'A2', 'B1', 'B2']);
    expect(discord!.stats.rateLimited).toBeGreaterThanOrEqual(1);
    const posts = discord!.requestLog.filter((r) => r.route === MESSAGES);
    expect(posts.filter((r) => r.status === 200)).toHaveLength(4);
  });

  it('waits out an injected 429 and posts the message once', async () => {
    const { a } = await setup();
    client = await loginClient(discord!);
    discord!.injectFailures({ status: 429, route: MESSAGES, retryAfterMs: 200 });

    await client.rest.post(Routes.channelMessages(a.id), { body: { content: 'after the wait' } });

    expect(discord!.messages(a.id).map((m) => m.content)).toEqual(['after the wait']);
    expect(
      discord!.requestLog.filter((r) => r.route === MESSAGES).map((r) => [r.status, r.injected]),
    ).toEqual([
      [429, true],
      [200, false],
    ]);
  });

  it('holds every request back after a global 429 and still completes them all', async () => {
    const { guild } = await setup({ rateLimits: { global: { limit: 3, windowMs: 500 } } });
    const channels = Array.from({ length: 5 }, (_, i) => discord!.addChannel(guild.id, { name: `c${i}` }));
    const rest = new REST({ api: discord!.apiBase }).setToken(discord!.token);

    const fetched = (await Promise.all(channels.map((c) => rest.get(Routes.channel(c.id))))) as {
      name: string;
    }[];

    expect(fetched.map((c) => c.name)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(discord!.stats.globalRateLimited).toBeGreaterThanOrEqual(1);
    expect(discord!.requestLog.some((r) => r.rateLimited === 'global')).toBe(true);
  });

  it('retries injected 500s and posts the message once', async () => {
    const { a } = await setup();
    client = await loginClient(discord!);
    discord!.injectFailures({ status: 500, count: 2, route: MESSAGES });

    await client.rest.post(Routes.channelMessages(a.id), { body: { content: 'survived' } });

    expect(discord!.messages(a.id)).toHaveLength(1);
    expect(discord!.requestLog.filter((r) => r.route === MESSAGES).map((r) => r.status)).toEqual([
      500, 500, 200,
    ]);
  });

  it('surfaces a 5xx storm longer than the retries as an HTTPError', async () => {
    const { a } = await setup();
    const rest = new REST({ api: discord!.apiBase, retries: 1 }).setToken(discord!.token);
    discord!.injectFailures({ status: 503, count: 5 });

    const attempt = rest.post(Routes.channelMessages(a.id), { body: { content: 'lost' } });

    await expect(attempt).rejects.toBeInstanceOf(HTTPError);
    await expect(attempt).rejects.toMatchObject({ status: 503 });
    expect(discord!.messages(a.id)).toEqual([]);
    discord!.clearFailures();
    await rest.post(Routes.channelMessages(a.id), { body: { content: 'later' } });
    expect(discord!.messages(a.id)).toHaveLength(1);
  });

  it('counts 401, 403 and 429 answers as invalid requests, and nothing else', async () => {
    const { a, b } = await setup({ rateLimits: { messages: { limit: 1, windowMs: 60_000 } } });
    discord!.setBotPermissions(b.id, { deny: ['ViewChannel'] });
    await raw(`/channels/${a.id}/messages`, { method: 'POST', body: { content: 'ok' } });
    await raw(`/channels/${a.id}/messages`, { method: 'POST', body: { content: '429' } });
    await raw(`/channels/${b.id}/messages`, { method: 'POST', body: { content: '403' } });
    await raw(`/channels/999999999999999999/messages`, { method: 'POST', body: { content: '404' } });
    await fetch(`${discord!.apiBase}/v10/channels/${a.id}`);

    expect(discord!.stats.byStatus).toEqual({ 200: 1, 429: 1, 403: 1, 404: 1, 401: 1 });
    expect(discord!.stats.invalid).toBe(3);
  });
});
