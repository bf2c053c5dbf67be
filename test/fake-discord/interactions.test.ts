import type { ApplicationCommandDataResolvable, Client, Interaction } from 'discord.js';
import {
  ApplicationCommandOptionType,
  ChannelType,
  DiscordAPIError,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  Routes,
} from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDiscord, FakeDiscordOptions } from '../support/fake-discord/index';
import {
  CommandRefusedError,
  InteractionNotAcknowledgedError,
  startFakeDiscord,
} from '../support/fake-discord/index';
import { loginClient, nextInteraction } from '../support/fake-discord/login-client';

/** Herald's /feed command, as DESIGN.md describes it (a subset of subcommands). */
const FEED_COMMAND: ApplicationCommandDataResolvable = {
  name: 'feed',
  description: 'Manage feed subscriptions',
  defaultMemberPermissions: PermissionFlagsBits.ManageGuild,
  contexts: [InteractionContextType.Guild],
  options: [
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'add',
      description: 'Subscribe a channel to a feed',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'url',
          description: 'Feed or page address',
          required: true,
        },
        {
          type: ApplicationCommandOptionType.Channel,
          name: 'channel',
          description: 'Where to post',
          channelTypes: [ChannelType.GuildText, ChannelType.GuildAnnouncement],
        },
        {
          type: ApplicationCommandOptionType.Integer,
          name: 'backfill',
          description: 'Posts now',
          minValue: 0,
          maxValue: 10,
        },
        { type: ApplicationCommandOptionType.Role, name: 'mention', description: 'Role to ping' },
        { type: ApplicationCommandOptionType.Boolean, name: 'quiet', description: 'No confirmation' },
      ],
    },
    {
      type: ApplicationCommandOptionType.Subcommand,
      name: 'remove',
      description: 'Remove a subscription',
      options: [
        {
          type: ApplicationCommandOptionType.String,
          name: 'feed',
          description: 'Subscription',
          required: true,
          autocomplete: true,
        },
      ],
    },
  ],
};

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
  const admin = discord.addMember(guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  client = await loginClient(discord);
  await client.application.commands.set([FEED_COMMAND]);
  return { discord, client, guild, channel, admin };
}

/** Invokes a command and resolves with the interaction the bot receives for it. */
async function receive<T>(c: Client, invoke: () => T): Promise<[Interaction, T]> {
  const next = nextInteraction(c);
  const handle = invoke();
  return [await next, handle];
}

describe('slash commands', () => {
  it('delivers subcommand options with their resolved objects and records an ephemeral reply', async () => {
    const { guild, channel, admin } = await setup();
    const role = discord!.addRole(guild.id, { name: 'subscribers' });
    const target = discord!.addChannel(guild.id, { name: 'releases', type: 'announcement' });

    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: {
          url: 'https://example.org/feed.xml',
          channel: target.id,
          backfill: 3,
          mention: role.id,
          quiet: false,
        },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
    const options = interaction.options;
    const summary = [
      options.getSubcommand(),
      options.getString('url'),
      options.getChannel('channel')?.name,
      options.getInteger('backfill'),
      options.getRole('mention')?.name,
      options.getBoolean('quiet'),
    ].join(' ');
    await interaction.reply({ content: summary, flags: MessageFlags.Ephemeral });
    const response = await handle.answered();

    expect(response.acknowledgement).toBe('reply');
    expect(response.ephemeral).toBe(true);
    expect(response.reply?.content).toBe('add https://example.org/feed.xml releases 3 subscribers false');
    // Ephemeral replies are seen by the member only, never in the channel.
    expect(discord!.messages(channel.id)).toEqual([]);
    expect(interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)).toBe(true);
    expect(interaction.appPermissions.has(PermissionFlagsBits.SendMessages)).toBe(true);
  });

  it('records a deferred reply as loading until the bot edits it', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');

    await interaction.deferReply();
    const deferred = await handle.acknowledged();
    expect(deferred.acknowledgement).toBe('deferred-reply');
    expect((deferred.reply?.flags ?? 0) & MessageFlags.Loading).toBe(MessageFlags.Loading);

    await interaction.editReply('Subscribed #news to Example');
    const response = await handle.answered();
    expect(response.reply?.content).toBe('Subscribed #news to Example');
    expect(response.edits).toBe(1);
    expect(response.ephemeral).toBe(false);
    // A public reply is a message in the channel, marked as a command response.
    expect(discord!.messages(channel.id).map((m) => [m.content, m.interaction_metadata?.id])).toEqual([
      ['Subscribed #news to Example', interaction.id],
    ]);
  });

  it('records follow-ups after the reply, each with its own visibility', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');

    await interaction.reply({ content: 'Working on it', flags: MessageFlags.Ephemeral });
    const first = await interaction.followUp({ content: 'Found 3 items', flags: MessageFlags.Ephemeral });
    await interaction.followUp({ content: 'Posted the newest' });
    const response = await handle.followUps(2);

    expect(
      response.followUps.map((m) => [m.content, ((m.flags ?? 0) & MessageFlags.Ephemeral) !== 0]),
    ).toEqual([
      ['Found 3 items', true],
      ['Posted the newest', false],
    ]);
    expect(response.followUps[0]?.id).toBe(first.id);
    expect(discord!.messages(channel.id).map((m) => m.content)).toEqual(['Posted the newest']);
  });

  it('lets the bot fetch, edit and delete its original response and follow-ups', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
    await interaction.reply({ content: 'Checking…' });
    const original = await interaction.fetchReply();
    const followUp = await interaction.followUp({ content: 'one moment' });
    await interaction.editReply({ message: followUp, content: 'done' });

    expect(original.content).toBe('Checking…');
    expect(handle.response.followUps.map((m) => m.content)).toEqual(['done']);
    await interaction.deleteReply();
    expect(handle.response).toMatchObject({ replyDeleted: true, reply: null });
    expect(discord!.messages(channel.id).map((m) => m.content)).toEqual(['done']);
  });

  it('returns the created message when the bot asks for the response', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
    const callback = await interaction.reply({ content: 'Done', withResponse: true });
    expect(callback.resource?.message?.content).toBe('Done');
    expect(callback.interaction.responseMessageEphemeral).toBe(false);
  });

  it('refuses a reply that breaks a message limit, like Discord does', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
    await expect(interaction.reply({ content: 'x'.repeat(2001) })).rejects.toMatchObject({
      code: 50035,
      status: 400,
    });
    expect(handle.response.acknowledgement).toBeNull();
  });
});

describe('autocomplete', () => {
  it('records the choices the bot offers for the focused option', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.autocomplete({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'remove',
        options: { feed: 'exa' },
        focused: 'feed',
      }),
    );
    if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
    const typed = interaction.options.getFocused();
    const subscriptions = ['example.org', 'example.net', 'other.org'];
    await interaction.respond(
      subscriptions.filter((s) => s.startsWith(typed)).map((s) => ({ name: s, value: `id-${s}` })),
    );
    const response = await handle.answered();

    expect(response.acknowledgement).toBe('autocomplete');
    expect(response.choices).toEqual([
      { name: 'example.org', value: 'id-example.org' },
      { name: 'example.net', value: 'id-example.net' },
    ]);
  });

  it('refuses more than 25 choices', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction] = await receive(client!, () =>
      discord!.autocomplete({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'remove',
        focused: 'feed',
      }),
    );
    if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
    const choices = Array.from({ length: 26 }, (_, i) => ({ name: `feed ${i}`, value: String(i) }));
    await expect(interaction.respond(choices)).rejects.toMatchObject({ code: 50035 });
  });
});

describe('who may invoke', () => {
  it('refuses an invocation from a member without Manage Server when the command requires it', async () => {
    const { guild, channel, admin } = await setup();
    const reader = discord!.addMember(guild.id, { username: 'reader' });
    const seen: string[] = [];
    client!.on('interactionCreate', (interaction) => {
      seen.push(interaction.user.id);
      if (interaction.isRepliable()) void interaction.reply({ content: 'ok', flags: MessageFlags.Ephemeral });
    });
    const invoke = (member: { id: string }) =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      });

    expect(() => invoke(reader)).toThrow(expect.objectContaining({ reason: 'missing-permissions' }));
    await invoke(admin).answered();
    // The refused invocation never reached the bot; the allowed one, sent after it, did.
    expect(seen).toEqual([admin.id]);
  });

  it('lets the server owner and administrators run commands restricted to Manage Server', async () => {
    const { guild, channel } = await setup();
    const root = discord!.addMember(guild.id, { permissions: ['Administrator'] });
    for (const member of [guild.ownerId, root.id]) {
      const handle = discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://a.example/' },
      });
      expect(handle.response.delivered).toBe(true);
    }
  });

  it('refuses a command whose contexts exclude servers', async () => {
    const { guild, channel, admin } = await setup();
    await client!.application.commands.set([
      { name: 'dm-only', description: 'Only in DMs', contexts: [InteractionContextType.BotDM] },
    ]);
    let error: unknown;
    try {
      discord!.invokeCommand({ guildId: guild.id, channelId: channel.id, member: admin, name: 'dm-only' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CommandRefusedError);
    expect((error as CommandRefusedError).reason).toBe('context-not-allowed');
  });

  it("refuses options the command does not define, as Discord's client would never send them", async () => {
    const { guild, channel, admin } = await setup();
    expect(() =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'x', backfill: 11 },
      }),
    ).toThrow(/above 10/);
    expect(() =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: {},
      }),
    ).toThrow(/needs option "url"/);
  });
});

describe('acknowledgement rules', () => {
  it('answers 10062 Unknown interaction to a response after the initial-response deadline', async () => {
    const { guild, channel, admin } = await setup({ interactionDeadlineMs: 100 });
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');

    await expect(handle.acknowledged()).rejects.toBeInstanceOf(InteractionNotAcknowledgedError);
    const late = interaction.reply({ content: 'too late' });
    await expect(late).rejects.toBeInstanceOf(DiscordAPIError);
    await expect(late).rejects.toMatchObject({ code: 10062, status: 404 });
    expect(handle.response).toMatchObject({ expired: true, acknowledgement: null, refusals: [10062] });
  });

  it('answers 40060 to a second acknowledgement of the same interaction', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction, handle] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
    await interaction.reply({ content: 'first' });

    // discord.js refuses a second reply itself, so go around it as a bot with two handlers would.
    const second = client!.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
      body: { type: 4, data: { content: 'second' } },
      auth: false,
    });
    await expect(second).rejects.toMatchObject({ code: 40060, status: 400 });
    expect(handle.response.reply?.content).toBe('first');
    expect(handle.response.refusals).toEqual([40060]);
  });

  it('refuses a follow-up before the interaction is acknowledged', async () => {
    const { guild, channel, admin } = await setup();
    const [interaction] = await receive(client!, () =>
      discord!.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member: admin,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/' },
      }),
    );
    const early = client!.rest.post(Routes.webhook(interaction.applicationId, interaction.token), {
      body: { content: 'early' },
      auth: false,
    });
    await expect(early).rejects.toMatchObject({ code: 10015, status: 404 });
  });
});
