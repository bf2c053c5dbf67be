import {
  ApplicationCommandOptionType,
  ChannelType,
  InteractionContextType,
  PermissionFlagsBits,
  REST,
  type APIApplicationCommandOption,
} from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../commands';
import {
  inviteUrl,
  registerCommandsIfChanged,
  type RegistrationMemory,
} from '../../src/discord/register-commands';
import { startFakeDiscord, type FakeDiscord } from '../support/fake-discord/index';

let discord: FakeDiscord;
let rest: REST;

beforeAll(async () => {
  discord = await startFakeDiscord();
  rest = new REST({ api: discord.apiBase }).setToken(discord.token);
});
afterAll(async () => {
  await discord.close();
});

function memory(): RegistrationMemory {
  const values = new Map<string, unknown>();
  return {
    get: <T>(name: string) => Promise.resolve(values.get(name) as T | undefined),
    set: (name, value) => Promise.resolve(void values.set(name, value)),
  };
}

const definitions = commands.map((command) => command.data);

function registrations(): number {
  return discord.requestLog.filter((entry) => entry.method === 'PUT').length;
}

/** The options of a subcommand as registered, by name. */
function optionsOf(command: string, subcommand: string): Map<string, APIApplicationCommandOption> {
  const definition = definitions.find((d) => d.name === command);
  const sub = definition?.options?.find((o) => o.name === subcommand);
  expect(sub?.type, `${command} ${subcommand}`).toBe(ApplicationCommandOptionType.Subcommand);
  const options = sub && 'options' in sub ? (sub.options ?? []) : [];
  return new Map(options.map((option) => [option.name, option as APIApplicationCommandOption]));
}

describe('registering the slash commands', () => {
  it('registers once, skips an unchanged start, and registers again when definitions or scope change', async () => {
    const guild = discord.addGuild({ name: 'Dev' });
    const remembered = memory();
    const scope = { applicationId: discord.applicationId, guildId: guild.id };
    const before = registrations();

    expect(await registerCommandsIfChanged(rest, definitions, scope, remembered)).toBe(true);
    expect(
      discord
        .commands(guild.id)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
    expect(await registerCommandsIfChanged(rest, definitions, scope, remembered)).toBe(false);
    expect(registrations()).toBe(before + 1);

    const changed = definitions.map((d) => (d.name === 'posts' ? { ...d, description: 'Recent posts' } : d));
    expect(await registerCommandsIfChanged(rest, changed, scope, remembered)).toBe(true);
    expect(discord.commands(guild.id).find((c) => c.name === 'posts')?.description).toBe('Recent posts');
    expect(await registerCommandsIfChanged(rest, changed, { ...scope, guildId: null }, remembered)).toBe(
      true,
    );
    expect(
      discord
        .commands()
        .map((c) => c.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
    expect(registrations()).toBe(before + 3);
  });

  it('leaves the hash unchanged when Discord refuses, so the next start tries again', async () => {
    const remembered = memory();
    const scope = { applicationId: discord.applicationId, guildId: '123456789012345678' };
    await expect(registerCommandsIfChanged(rest, definitions, scope, remembered)).rejects.toMatchObject({
      status: 403,
    });
    expect(await remembered.get('commandsHash')).toBeUndefined();
  });
});

describe('the command definitions', () => {
  it('make /feed need Manage Server and both commands server-only', () => {
    const feed = definitions.find((d) => d.name === 'feed');
    const posts = definitions.find((d) => d.name === 'posts');
    expect(feed?.default_member_permissions).toBe(PermissionFlagsBits.ManageGuild.toString());
    expect(posts?.default_member_permissions ?? null).toBeNull();
    expect(feed?.contexts).toEqual([InteractionContextType.Guild]);
    expect(posts?.contexts).toEqual([InteractionContextType.Guild]);
  });

  it('have the documented subcommands and options', () => {
    const subcommands = (name: string) =>
      definitions.find((d) => d.name === name)?.options?.map((o) => o.name);
    expect(subcommands('feed')).toEqual(['add', 'remove', 'list', 'status', 'pause', 'resume', 'preview']);
    expect(subcommands('posts')).toEqual(['recent', 'search']);

    const add = optionsOf('feed', 'add');
    expect([...add.keys()]).toEqual(['url', 'channel', 'backfill', 'mention']);
    expect(add.get('url')).toMatchObject({ type: ApplicationCommandOptionType.String, required: true });
    expect(add.get('channel')).toMatchObject({
      type: ApplicationCommandOptionType.Channel,
      channel_types: [ChannelType.GuildText, ChannelType.GuildAnnouncement],
    });
    expect(add.get('backfill')).toMatchObject({ min_value: 0, max_value: 10 });
    expect(add.get('mention')?.type).toBe(ApplicationCommandOptionType.Role);
    for (const sub of ['remove', 'status', 'pause', 'resume']) {
      expect(optionsOf('feed', sub).get('feed')).toMatchObject({ required: true, autocomplete: true });
    }
    expect([...optionsOf('feed', 'list').keys()]).toEqual(['channel']);
    expect([...optionsOf('feed', 'preview').keys()]).toEqual(['url']);

    const recent = optionsOf('posts', 'recent');
    expect([...recent.keys()]).toEqual(['feed', 'count', 'share']);
    expect(recent.get('feed')).toMatchObject({ autocomplete: true });
    expect(recent.get('count')).toMatchObject({ min_value: 1, max_value: 10 });
    expect(recent.get('share')?.type).toBe(ApplicationCommandOptionType.Boolean);
    const search = optionsOf('posts', 'search');
    expect([...search.keys()]).toEqual(['query', 'feed', 'share']);
    expect(search.get('query')).toMatchObject({ required: true, max_length: 100 });
  });
});

describe('the invite link', () => {
  it('asks for the bot and commands scopes with View Channel, Send Messages and Embed Links', () => {
    const url = new URL(inviteUrl('123456789012345678'));
    expect(url.searchParams.get('client_id')).toBe('123456789012345678');
    expect(url.searchParams.get('scope')?.split(' ').sort()).toEqual(['applications.commands', 'bot']);
    const permissions = BigInt(url.searchParams.get('permissions') ?? '0');
    for (const flag of [
      PermissionFlagsBits.ViewChannel,
      PermissionFlagsBits.SendMessages,
      PermissionFlagsBits.EmbedLinks,
    ]) {
      expect(permissions & flag).toBe(flag);
    }
    expect(permissions & PermissionFlagsBits.Administrator).toBe(0n);
  });
});
