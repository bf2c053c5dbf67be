import type { APIEmbed, Client, ForumChannel, TextChannel } from 'discord.js';
import { ChannelType, DiscordAPIError, REST, Routes } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDiscord } from '../support/fake-discord/index';
import { startFakeDiscord } from '../support/fake-discord/index';
import { loginClient } from '../support/fake-discord/login-client';

let discord: FakeDiscord | undefined;
let client: Client<true> | undefined;

afterEach(async () => {
  await client?.destroy();
  await discord?.close();
  client = undefined;
  discord = undefined;
});

async function setup() {
  discord = await startFakeDiscord();
  const guild = discord.addGuild({ name: 'Readers' });
  const channel = discord.addChannel(guild.id, { name: 'news' });
  client = await loginClient(discord);
  const news = (await client.channels.fetch(channel.id)) as TextChannel;
  return { discord, client, guild, channel, news };
}

/** Posts through @discordjs/rest and returns the DiscordAPIError it rejects with. */
async function postError(c: Client, channelId: string, body: unknown): Promise<DiscordAPIError> {
  try {
    await c.rest.post(Routes.channelMessages(channelId), { body });
  } catch (error) {
    if (error instanceof DiscordAPIError) return error;
    throw error;
  }
  throw new Error('the post succeeded');
}

const field = (n: number) => ({ name: `field ${n}`, value: 'v'.repeat(1000) });

describe('posting and reading back', () => {
  it('stores a message with embeds and returns the same message when fetched back', async () => {
    const { news, channel } = await setup();
    const embed: APIEmbed = {
      title: 'Release 1.2',
      url: 'https://example.org/1.2',
      description: 'What changed',
      timestamp: '2024-05-01T10:00:00.000Z',
      footer: { text: 'Example blog' },
      fields: [{ name: 'Tags', value: 'release' }],
    };
    const sent = await news.send({ content: 'New post', embeds: [embed], allowedMentions: { parse: [] } });
    news.messages.cache.clear();
    const fetched = await news.messages.fetch(sent.id);

    expect(fetched.content).toBe('New post');
    expect(fetched.author.id).toBe(discord!.botUserId);
    expect(fetched.embeds[0]?.title).toBe('Release 1.2');
    expect(fetched.embeds[0]?.footer?.text).toBe('Example blog');
    expect(fetched.embeds[0]?.timestamp).toBe('2024-05-01T10:00:00.000000+00:00');
    const stored = discord!.messages(channel.id);
    expect(stored.map((m) => m.id)).toEqual([sent.id]);
    expect(stored[0]?.allowed_mentions).toEqual({ parse: [] });
  });

  it('lists only the mentions that allowed_mentions lets through', async () => {
    const { news, guild, channel } = await setup();
    const role = discord!.addRole(guild.id, { name: 'subscribers' });
    const other = discord!.addRole(guild.id, { name: 'staff' });
    await news.send({
      content: `<@&${role.id}> <@&${other.id}> @everyone`,
      allowedMentions: { parse: [], roles: [role.id] },
    });
    const [message] = discord!.messages(channel.id);
    expect(message?.mention_roles).toEqual([role.id]);
    expect(message?.mention_everyone).toBe(false);
  });

  it('stores files sent as multipart with payload_json', async () => {
    const { news, channel } = await setup();
    await news.send({
      content: 'with a file',
      files: [{ attachment: Buffer.from('hello'), name: 'note.txt' }],
    });
    const [message] = discord!.messages(channel.id);
    expect(message?.content).toBe('with a file');
    expect(message?.attachments.map((a) => [a.filename, a.size])).toEqual([['note.txt', 5]]);
  });

  it("edits and deletes the bot's own message", async () => {
    const { news, channel } = await setup();
    const sent = await news.send('draft');
    const edited = await sent.edit('final');
    expect(edited.editedTimestamp).not.toBeNull();
    expect(discord!.messages(channel.id)[0]?.content).toBe('final');
    await sent.delete();
    expect(discord!.messages(channel.id)).toEqual([]);
  });

  it('returns messages newest first, honouring limit and before', async () => {
    const { news } = await setup();
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) ids.push((await news.send(text)).id);
    const page = await news.messages.fetch({ limit: 2, cache: false });
    expect([...page.values()].map((m) => m.content)).toEqual(['three', 'two']);
    const older = await news.messages.fetch({ before: ids[1] ?? '', cache: false });
    expect([...older.values()].map((m) => m.content)).toEqual(['one']);
  });
});

describe('idempotency', () => {
  it('returns the existing message for a retried nonce with enforce_nonce', async () => {
    const { news, channel } = await setup();
    const first = await news.send({ content: 'Post A', nonce: 'sub1-item1', enforceNonce: true });
    const retry = await news.send({ content: 'Post A', nonce: 'sub1-item1', enforceNonce: true });
    expect(retry.id).toBe(first.id);
    expect(discord!.messages(channel.id)).toHaveLength(1);
  });

  it('creates a second message for a repeated nonce without enforce_nonce', async () => {
    const { news, channel } = await setup();
    await news.send({ content: 'Post A', nonce: 'sub1-item1' });
    await news.send({ content: 'Post A', nonce: 'sub1-item1' });
    expect(discord!.messages(channel.id)).toHaveLength(2);
  });

  it('refuses a nonce longer than 25 characters', async () => {
    const { channel } = await setup();
    const error = await postError(client!, channel.id, {
      content: 'x',
      nonce: 'n'.repeat(26),
      enforce_nonce: true,
    });
    expect(error.code).toBe(50035);
  });
});

describe("validation like Discord's", () => {
  const cases: [string, unknown, string[]][] = [
    ['content over 2,000 characters', { content: 'x'.repeat(2001) }, ['content']],
    [
      'more than 10 embeds',
      { embeds: Array.from({ length: 11 }, (_, i) => ({ title: `${i}` })) },
      ['embeds'],
    ],
    [
      'an embed title over 256 characters',
      { embeds: [{ title: 't'.repeat(257) }] },
      ['embeds', '0', 'title'],
    ],
    [
      'an embed description over 4,096 characters',
      { embeds: [{ description: 'd'.repeat(4097) }] },
      ['embeds', '0', 'description'],
    ],
    [
      'more than 25 fields',
      { embeds: [{ fields: Array.from({ length: 26 }, (_, i) => ({ name: `${i}`, value: 'v' })) }] },
      ['embeds', '0', 'fields'],
    ],
    [
      'a field name over 256 characters',
      { embeds: [{ fields: [{ name: 'n'.repeat(257), value: 'v' }] }] },
      ['embeds', '0', 'fields', '0', 'name'],
    ],
    [
      'a field value over 1,024 characters',
      { embeds: [{ fields: [{ name: 'n', value: 'v'.repeat(1025) }] }] },
      ['embeds', '0', 'fields', '0', 'value'],
    ],
    [
      'footer text over 2,048 characters',
      { embeds: [{ footer: { text: 'f'.repeat(2049) } }] },
      ['embeds', '0', 'footer', 'text'],
    ],
    [
      'an author name over 256 characters',
      { embeds: [{ author: { name: 'a'.repeat(257) } }] },
      ['embeds', '0', 'author', 'name'],
    ],
    [
      'embeds totalling over 6,000 characters',
      { embeds: [{ fields: [1, 2, 3, 4, 5].map(field) }, { fields: [6, 7].map(field) }] },
      ['embeds'],
    ],
    [
      'an embed URL that is not http(s)',
      { embeds: [{ title: 't', url: 'javascript:alert(1)' }] },
      ['embeds', '0', 'url'],
    ],
  ];

  it.each(cases)('answers 400/50035 with an error tree for %s', async (_name, body, path) => {
    const { channel } = await setup();
    const error = await postError(client!, channel.id, body);
    expect(error.status).toBe(400);
    expect(error.code).toBe(50035);
    let node: unknown = (error.rawError as { errors?: unknown }).errors;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
    expect((node as { _errors?: unknown[] } | undefined)?._errors?.length).toBeGreaterThan(0);
    expect(discord!.messages(channel.id)).toEqual([]);
  });

  it('counts characters, not UTF-16 units, towards the limits', async () => {
    const { news, channel } = await setup();
    await news.send({ content: '🦊'.repeat(2000) });
    expect(discord!.messages(channel.id)).toHaveLength(1);
  });

  it('answers 400/50006 to an empty message', async () => {
    const { channel } = await setup();
    const error = await postError(client!, channel.id, { content: '   ' });
    expect([error.status, error.code]).toEqual([400, 50006]);
  });
});

describe('access and permissions', () => {
  it('answers 403/50001 when the bot cannot see the channel', async () => {
    const { channel } = await setup();
    discord!.setBotPermissions(channel.id, { deny: ['ViewChannel'] });
    const error = await postError(client!, channel.id, { content: 'hi' });
    expect([error.status, error.code]).toEqual([403, 50001]);
  });

  it('answers 403/50013 when the bot cannot send messages in the channel', async () => {
    const { channel } = await setup();
    discord!.setBotPermissions(channel.id, { deny: ['SendMessages'] });
    const error = await postError(client!, channel.id, { content: 'hi' });
    expect([error.status, error.code]).toEqual([403, 50013]);
  });

  it('answers 403/50013 to embeds without Embed Links while plain text still posts', async () => {
    const { channel } = await setup();
    discord!.setBotPermissions(channel.id, { deny: ['EmbedLinks'] });
    const error = await postError(client!, channel.id, { embeds: [{ title: 'x' }] });
    expect([error.status, error.code]).toEqual([403, 50013]);
    await client!.rest.post(Routes.channelMessages(channel.id), { body: { content: 'plain' } });
    expect(discord!.messages(channel.id).map((m) => m.content)).toEqual(['plain']);
  });

  it('applies role overwrites to the bot through its managed role', async () => {
    const { channel, guild } = await setup();
    discord!.setPermissionOverwrite(channel.id, { roleId: guild.everyoneRoleId }, { deny: ['SendMessages'] });
    discord!.setPermissionOverwrite(channel.id, { roleId: guild.botRoleId }, { deny: ['SendMessages'] });
    expect((await postError(client!, channel.id, { content: 'hi' })).code).toBe(50013);
    discord!.setBotPermissions(channel.id, { allow: ['SendMessages'] });
    await client!.rest.post(Routes.channelMessages(channel.id), { body: { content: 'allowed for the bot' } });
    expect(discord!.messages(channel.id)).toHaveLength(1);
  });

  it('answers 404/10003 for a channel that was deleted', async () => {
    const { channel } = await setup();
    discord!.deleteChannel(channel.id);
    const error = await postError(client!, channel.id, { content: 'hi' });
    expect([error.status, error.code]).toEqual([404, 10003]);
  });

  it('answers 401 to a bad token and counts it as an invalid request', async () => {
    const { channel } = await setup();
    const stranger = new REST({ api: discord!.apiBase, retries: 0 }).setToken('bad-token');
    await expect(
      stranger.post(Routes.channelMessages(channel.id), { body: { content: 'hi' } }),
    ).rejects.toMatchObject({
      status: 401,
    });
    expect(discord!.stats.invalid).toBe(1);
    expect(discord!.messages(channel.id)).toEqual([]);
  });

  it('answers 400/50008 to a message posted straight into a forum or category', async () => {
    const { guild } = await setup();
    for (const type of ['forum', 'category'] as const) {
      const channel = discord!.addChannel(guild.id, { type });
      expect((await postError(client!, channel.id, { content: 'hi' })).code).toBe(50008);
    }
  });
});

describe('threads', () => {
  it('creates a forum post whose first message shares the thread id', async () => {
    const { guild } = await setup();
    const forum = discord!.addChannel(guild.id, { name: 'announcements', type: 'forum' });
    const channel = (await client!.channels.fetch(forum.id)) as ForumChannel;
    const thread = await channel.threads.create({
      name: 'Release 1.2',
      message: { content: 'Read it', embeds: [{ title: 'Release 1.2' }] },
    });

    expect(thread.parentId).toBe(forum.id);
    expect(discord!.messages(thread.id).map((m) => [m.id, m.content])).toEqual([[thread.id, 'Read it']]);
  });

  it('posts in a thread only with Send Messages in Threads on the parent', async () => {
    const { news, channel } = await setup();
    const thread = await news.threads.create({ name: 'Discussion', type: ChannelType.PublicThread });
    await thread.send('first');
    expect(discord!.messages(thread.id).map((m) => m.content)).toEqual(['first']);

    discord!.setBotPermissions(channel.id, { deny: ['SendMessagesInThreads'] });
    const error = await postError(client!, thread.id, { content: 'second' });
    expect([error.status, error.code]).toEqual([403, 50013]);
  });
});

describe('reads', () => {
  it("serves the guild's channels, roles, members and users as discord.js fetches them", async () => {
    const { guild } = await setup();
    const role = discord!.addRole(guild.id, { name: 'subscribers' });
    const member = discord!.addMember(guild.id, { username: 'reader', roleIds: [role.id] });
    const cached = client!.guilds.cache.get(guild.id)!;

    const channels = await cached.channels.fetch();
    const roles = await cached.roles.fetch();
    const fetchedMember = await cached.members.fetch({ user: member.id, force: true });
    const user = await client!.users.fetch(member.id, { force: true });

    expect(channels.map((c) => c?.name)).toEqual(['news']);
    expect(roles.map((r) => r.name).sort()).toEqual(['@everyone', 'Herald', 'subscribers']);
    expect(fetchedMember.roles.cache.has(role.id)).toBe(true);
    expect(user.username).toBe('reader');
    await expect(client!.users.fetch('123456789012345678', { force: true })).rejects.toMatchObject({
      code: 10013,
    });
  });
});

describe('HTTP details', () => {
  it('sends no Content-Type with a 204 and JSON with a body', async () => {
    const { news } = await setup();
    const sent = await news.send('bye');
    const auth = { Authorization: `Bot ${discord!.token}` };
    const deleted = await fetch(`${discord!.apiBase}/v10/channels/${news.id}/messages/${sent.id}`, {
      method: 'DELETE',
      headers: auth,
    });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get('content-type')).toBeNull();
    const got = await fetch(`${discord!.apiBase}/v10/channels/${news.id}`, { headers: auth });
    expect(got.headers.get('content-type')).toBe('application/json');
  });

  it('answers 50109 to a body that is not JSON', async () => {
    const { news } = await setup();
    const res = await fetch(`${discord!.apiBase}/v10/channels/${news.id}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bot ${discord!.token}`, 'Content-Type': 'application/json' },
      body: '{"content": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: number }).code).toBe(50109);
  });
});
