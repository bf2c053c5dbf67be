import type { RESTPutAPIApplicationCommandsJSONBody } from 'discord.js';
import { ApplicationCommandOptionType as T, DiscordAPIError, REST, Routes } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDiscord } from '../support/fake-discord/index';
import { startFakeDiscord } from '../support/fake-discord/index';

let discord: FakeDiscord | undefined;

afterEach(async () => {
  await discord?.close();
  discord = undefined;
});

/** A deploy-commands script's view: a bare REST client, no gateway. */
async function setup() {
  discord = await startFakeDiscord();
  const rest = new REST({ api: discord.apiBase }).setToken(discord.token);
  return { discord, rest };
}

async function putError(rest: REST, appId: string, body: unknown): Promise<DiscordAPIError> {
  try {
    await rest.put(Routes.applicationCommands(appId), { body });
  } catch (error) {
    if (error instanceof DiscordAPIError) return error;
    throw error;
  }
  throw new Error('the registration succeeded');
}

const sub = (name: string, options: unknown[] = []) => ({
  type: T.Subcommand,
  name,
  description: `${name} it`,
  options,
});
const str = (name: string, extra: Record<string, unknown> = {}) => ({
  type: T.String,
  name,
  description: `the ${name}`,
  ...extra,
});

describe('registration', () => {
  it("stores a valid command set and keeps each command's id across re-registration", async () => {
    const { rest } = await setup();
    const body: RESTPutAPIApplicationCommandsJSONBody = [
      {
        name: 'feed',
        description: 'Manage feeds',
        default_member_permissions: '32',
        options: [
          {
            type: T.Subcommand,
            name: 'add',
            description: 'Add a feed',
            options: [{ type: T.String, name: 'url', description: 'Feed address', required: true }],
          },
        ],
      },
      { name: 'posts', description: 'Recent posts' },
    ];
    const first = (await rest.put(Routes.applicationCommands(discord!.applicationId), { body })) as {
      id: string;
      name: string;
    }[];
    const again = (await rest.put(Routes.applicationCommands(discord!.applicationId), {
      body: body.slice(0, 1),
    })) as { id: string }[];

    expect(first.map((c) => c.name)).toEqual(['feed', 'posts']);
    expect(again[0]?.id).toBe(first[0]?.id);
    expect(discord!.commands().map((c) => c.name)).toEqual(['feed']);
    expect(discord!.commands()[0]?.default_member_permissions).toBe('32');
  });

  it('keeps guild commands apart from global ones', async () => {
    const { rest } = await setup();
    const guild = discord!.addGuild();
    await rest.put(Routes.applicationGuildCommands(discord!.applicationId, guild.id), {
      body: [{ name: 'dev', description: 'Dev only' }],
    });
    expect(discord!.commands(guild.id).map((c) => c.name)).toEqual(['dev']);
    expect(discord!.commands()).toEqual([]);
  });

  it('accepts lower-case names in other scripts and with dashes', async () => {
    const { rest } = await setup();
    const body = ['नमस्ते', 'สวัสดี', 'flux-rss_2', 'привет'].map((name) => ({ name, description: 'hello' }));
    await rest.put(Routes.applicationCommands(discord!.applicationId), { body });
    expect(discord!.commands()).toHaveLength(4);
  });

  it('refuses registration for another application', async () => {
    const { rest } = await setup();
    await expect(
      rest.put(Routes.applicationCommands('123456789012345678'), { body: [] }),
    ).rejects.toMatchObject({ status: 404 });
  });
});

describe("validation like Discord's", () => {
  const cases: [string, unknown, string[]][] = [
    ['an upper-case name', { name: 'Feed', description: 'd' }, ['0', 'name']],
    ['a name with a space', { name: 'my feed', description: 'd' }, ['0', 'name']],
    ['a name over 32 characters', { name: 'n'.repeat(33), description: 'd' }, ['0', 'name']],
    ['an empty description', { name: 'feed', description: '' }, ['0', 'description']],
    [
      'a description over 100 characters',
      { name: 'feed', description: 'd'.repeat(101) },
      ['0', 'description'],
    ],
    [
      'more than 25 options',
      { name: 'feed', description: 'd', options: Array.from({ length: 26 }, (_, i) => str(`o${i}`)) },
      ['0', 'options'],
    ],
    [
      'a required option after an optional one',
      { name: 'feed', description: 'd', options: [str('a'), str('b', { required: true })] },
      ['0', 'options', '1', 'required'],
    ],
    [
      'subcommands mixed with plain options',
      { name: 'feed', description: 'd', options: [sub('add'), str('url')] },
      ['0', 'options'],
    ],
    [
      'a subcommand inside a subcommand',
      { name: 'feed', description: 'd', options: [sub('add', [sub('deeper')])] },
      ['0', 'options', '0', 'options', '0', 'type'],
    ],
    [
      'a group holding a plain option',
      {
        name: 'feed',
        description: 'd',
        options: [{ type: T.SubcommandGroup, name: 'g', description: 'g', options: [str('x')] }],
      },
      ['0', 'options', '0', 'options', '0', 'type'],
    ],
    [
      'more than 25 choices',
      {
        name: 'feed',
        description: 'd',
        options: [
          str('c', { choices: Array.from({ length: 26 }, (_, i) => ({ name: `${i}`, value: `${i}` })) }),
        ],
      },
      ['0', 'options', '0', 'choices'],
    ],
    [
      'autocomplete together with choices',
      {
        name: 'feed',
        description: 'd',
        options: [str('c', { autocomplete: true, choices: [{ name: 'a', value: 'a' }] })],
      },
      ['0', 'options', '0', 'autocomplete'],
    ],
    [
      'duplicate option names',
      { name: 'feed', description: 'd', options: [str('a'), str('a')] },
      ['0', 'options', '1', 'name'],
    ],
    [
      'min_length on an integer option',
      {
        name: 'feed',
        description: 'd',
        options: [{ type: T.Integer, name: 'n', description: 'n', min_length: 1 }],
      },
      ['0', 'options', '0', 'min_length'],
    ],
  ];

  it.each(cases)('answers 400/50035 to %s', async (_name, command, path) => {
    const { rest } = await setup();
    const error = await putError(rest, discord!.applicationId, [command]);
    expect([error.status, error.code]).toEqual([400, 50035]);
    let node: unknown = (error.rawError as { errors?: unknown }).errors;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
    expect((node as { _errors?: unknown[] } | undefined)?._errors?.length).toBeGreaterThan(0);
    // A refused bulk overwrite changes nothing.
    expect(discord!.commands()).toEqual([]);
  });

  it('answers 400/50035 to two commands with the same name', async () => {
    const { rest } = await setup();
    const error = await putError(rest, discord!.applicationId, [
      { name: 'feed', description: 'a' },
      { name: 'feed', description: 'b' },
    ]);
    expect(error.code).toBe(50035);
  });
});
