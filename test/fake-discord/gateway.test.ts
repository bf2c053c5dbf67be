import { once } from 'node:events';
import type { Client } from 'discord.js';
import { DiscordjsErrorCodes, Events, GatewayIntentBits, PermissionFlagsBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { FakeDiscord, FakeDiscordOptions } from '../support/fake-discord/index';
import { InteractionNotAcknowledgedError, startFakeDiscord } from '../support/fake-discord/index';
import { loginClient, nextInteraction } from '../support/fake-discord/login-client';

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
  const guild = discord.addGuild({ name: 'Readers' });
  const channel = discord.addChannel(guild.id, { name: 'news' });
  const member = discord.addMember(guild.id, { username: 'reader' });
  return { discord, guild, channel, member };
}

/** Registers /ping and answers every invocation with "pong", counting them. */
async function answerPings(c: Client<true>): Promise<{ count: () => number }> {
  await c.application.commands.set([{ name: 'ping', description: 'Check the bot answers' }]);
  let count = 0;
  c.on(Events.InteractionCreate, (interaction) => {
    if (!interaction.isChatInputCommand()) return;
    count += 1;
    void interaction.reply({ content: 'pong' });
  });
  return { count: () => count };
}

/** Opens a raw gateway connection and resolves with HELLO's data. */
async function rawGateway(
  url: string,
): Promise<{ socket: WebSocket; hello: { heartbeat_interval: number } }> {
  const socket = new WebSocket(`${url}?v=10&encoding=json`);
  const [data] = (await once(socket, 'message')) as [Buffer];
  const payload = JSON.parse(data.toString()) as { op: number; d: { heartbeat_interval: number } };
  expect(payload.op).toBe(10);
  return { socket, hello: payload.d };
}

describe('login', () => {
  it('logs the unmodified discord.js client in and delivers every guild before ready', async () => {
    const { guild, channel } = await setup();
    const second = discord!.addGuild({ name: 'Writers' });
    client = await loginClient(discord!);

    expect(client.user.id).toBe(discord!.botUserId);
    expect(client.application.id).toBe(discord!.applicationId);
    expect(client.guilds.cache.map((g) => g.name).sort()).toEqual(['Readers', 'Writers']);
    expect(client.guilds.cache.get(second.id)?.available).toBe(true);
    const cached = client.guilds.cache.get(guild.id);
    // The bot's own member arrives with GUILD_CREATE, so discord.js can compute its permissions.
    expect(cached?.members.me?.id).toBe(discord!.botUserId);
    const news = cached?.channels.cache.get(channel.id);
    expect(news?.name).toBe('news');
    expect(news?.permissionsFor(cached!.members.me!)?.has(PermissionFlagsBits.SendMessages)).toBe(true);
  });

  it('rejects a bad token at login before opening the gateway', async () => {
    await setup();
    await expect(loginClient(discord!, {}, 'not-the-token')).rejects.toMatchObject({
      code: DiscordjsErrorCodes.TokenInvalid,
    });
    expect(discord!.gateway.stats.connections).toBe(0);
    expect(discord!.stats.byStatus[401]).toBe(1);
  });

  it('closes the gateway with 4004 when IDENTIFY carries a bad token', async () => {
    await setup();
    const { socket } = await rawGateway(discord!.gatewayUrl);
    socket.send(JSON.stringify({ op: 2, d: { token: 'wrong', intents: 1, properties: {} } }));
    const [code] = (await once(socket, 'close')) as [number];
    expect(code).toBe(4004);
  });

  it('closes with 4014 when the client asks for a privileged intent the application lacks', async () => {
    await setup();
    const { socket } = await rawGateway(discord!.gatewayUrl);
    socket.send(
      JSON.stringify({
        op: 2,
        d: { token: discord!.token, intents: GatewayIntentBits.MessageContent, properties: {} },
      }),
    );
    const [code] = (await once(socket, 'close')) as [number];
    expect(code).toBe(4014);
  });

  it('acknowledges heartbeats and numbers dispatches in sequence', async () => {
    await setup({ heartbeatIntervalMs: 45_000 });
    discord!.addGuild();
    const { socket, hello } = await rawGateway(discord!.gatewayUrl);
    expect(hello.heartbeat_interval).toBe(45_000);
    const frames: { op: number; t?: string; s?: number }[] = [];
    const fourFrames = new Promise<void>((resolve) => {
      socket.on('message', (data: Buffer) => {
        frames.push(JSON.parse(data.toString()) as { op: number });
        if (frames.length === 4) resolve();
      });
    });
    socket.send(
      JSON.stringify({ op: 2, d: { token: discord!.token, intents: 1, properties: {}, shard: [0, 1] } }),
    );
    socket.send(JSON.stringify({ op: 1, d: null }));
    await fourFrames;
    socket.close(1000);

    expect(frames.filter((f) => f.op === 0).map((f) => [f.t, f.s])).toEqual([
      ['READY', 1],
      ['GUILD_CREATE', 2],
      ['GUILD_CREATE', 3],
    ]);
    expect(frames.some((f) => f.op === 11)).toBe(true);
  });
});

describe('scripted faults', () => {
  it('keeps delivering interactions after an op 7 reconnect, which the client resumes', async () => {
    const { guild, channel, member } = await setup();
    client = await loginClient(discord!);
    const pings = await answerPings(client);
    const invoke = () =>
      discord!.invokeCommand({ guildId: guild.id, channelId: channel.id, member, name: 'ping' });

    expect((await invoke().answered()).reply?.content).toBe('pong');
    discord!.gateway.reconnect();
    await discord!.gateway.waitFor((s) => s.resumes === 1);
    const after = await invoke().answered();

    expect(after.reply?.content).toBe('pong');
    expect(pings.count()).toBe(2);
    // Resuming is not a new session: the bot identified once.
    expect(discord!.gateway.stats.identifies).toBe(1);
  });

  it('replays what was dispatched while the connection was down once the client resumes', async () => {
    const { guild } = await setup();
    client = await loginClient(discord!);
    discord!.gateway.dropConnection();
    const added = discord!.addChannel(guild.id, { name: 'while-away' });
    const created = once(client, Events.ChannelCreate);

    await discord!.gateway.waitFor((s) => s.resumes === 1);
    await created;

    expect(client.channels.cache.get(added.id)?.toString()).toBe(`<#${added.id}>`);
    expect(discord!.gateway.stats.closeCodes).toContain(1006);
  });

  it('makes the client identify again after a non-resumable invalid session', async () => {
    const { guild, channel, member } = await setup();
    // @discordjs/ws spaces identifies 5 s apart as Discord requires; that rule is not under test here.
    client = await loginClient(discord!, {
      ws: { buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }) },
    });
    const pings = await answerPings(client);

    discord!.gateway.invalidSession(false);
    await discord!.gateway.waitFor((s) => s.identifies === 2);
    const response = await discord!
      .invokeCommand({ guildId: guild.id, channelId: channel.id, member, name: 'ping' })
      .answered();

    expect(response.reply?.content).toBe('pong');
    expect(pings.count()).toBe(1);
    expect(discord!.gateway.stats.resumes).toBe(0);
  });

  it('lets the client resume on the same connection after a resumable invalid session', async () => {
    await setup();
    client = await loginClient(discord!);
    discord!.gateway.invalidSession(true);
    await discord!.gateway.waitFor((s) => s.resumes === 1);
    expect(discord!.gateway.stats).toMatchObject({ identifies: 1, connections: 1 });
  });

  it('leads the client to treat a connection without heartbeat ACKs as a zombie and resume', async () => {
    await setup({ heartbeatIntervalMs: 50 });
    client = await loginClient(discord!);
    discord!.gateway.withholdAcks(true);
    await discord!.gateway.waitFor((s) => s.closeCodes.length === 1);
    discord!.gateway.withholdAcks(false);
    await discord!.gateway.waitFor((s) => s.resumes === 1);

    // 4200 is @discordjs/ws's "closing to resume" code.
    expect(discord!.gateway.stats.closeCodes).toEqual([4200]);
    expect(discord!.gateway.connected).toBe(true);
  });

  it('invalidates the session when the client closes normally', async () => {
    await setup();
    client = await loginClient(discord!);
    await client.destroy();
    client = undefined;
    await discord!.gateway.waitFor((s) => s.closeCodes.length === 1);
    expect(discord!.gateway.connected).toBe(false);
  });
});

describe('state changes', () => {
  it('tells the bot about channel updates, permission changes and deletions', async () => {
    const { guild, channel } = await setup();
    client = await loginClient(discord!);
    const cached = client.guilds.cache.get(guild.id)!;

    const updated = once(client, Events.ChannelUpdate);
    discord!.setBotPermissions(channel.id, { deny: ['SendMessages'] });
    await updated;
    const news = cached.channels.cache.get(channel.id)!;
    expect(news.permissionsFor(cached.members.me!)?.has(PermissionFlagsBits.SendMessages)).toBe(false);
    expect(discord!.botPermissionsIn(channel.id)).not.toContain('SendMessages');

    const deleted = once(client, Events.ChannelDelete);
    discord!.deleteChannel(channel.id);
    await deleted;
    expect(client.channels.cache.has(channel.id)).toBe(false);
  });

  it('sends GUILD_CREATE for a guild joined after ready and GUILD_DELETE when the bot is removed', async () => {
    await setup();
    client = await loginClient(discord!);

    const joined = once(client, Events.GuildCreate);
    const guild = discord!.addGuild({ name: 'Late' });
    const [created] = (await joined) as [{ id: string; name: string }];
    expect(created).toMatchObject({ id: guild.id, name: 'Late' });

    const left = once(client, Events.GuildDelete);
    discord!.removeGuild(guild.id);
    await left;
    expect(client.guilds.cache.has(guild.id)).toBe(false);
  });

  it('loses an interaction, unanswered, when no bot is connected', async () => {
    const { guild, channel, member } = await setup({ interactionDeadlineMs: 50 });
    client = await loginClient(discord!);
    await answerPings(client);
    await client.destroy();
    client = undefined;
    await discord!.gateway.waitFor((s) => s.closeCodes.length === 1);

    const handle = discord!.invokeCommand({ guildId: guild.id, channelId: channel.id, member, name: 'ping' });
    expect(handle.response.delivered).toBe(false);
    await expect(handle.answered()).rejects.toBeInstanceOf(InteractionNotAcknowledgedError);
  });

  it("presents the invoking member as the interaction's user", async () => {
    const { guild, channel, member } = await setup();
    client = await loginClient(discord!);
    await client.application.commands.set([{ name: 'ping', description: 'Check the bot answers' }]);
    const next = nextInteraction(client);
    discord!.invokeCommand({ guildId: guild.id, channelId: channel.id, member, name: 'ping' });
    const interaction = await next;
    expect(interaction.isChatInputCommand() && interaction.commandName).toBe('ping');
    expect(interaction.user.id).toBe(member.id);
  });
});
