import { Writable } from 'node:stream';
import { MessageFlags, type Interaction } from 'discord.js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createInteractionRouter, type SlashCommand } from '../../src/discord/router';
import { UserFacingError } from '../../src/errors';
import { FeedTimeoutError } from '../../src/feeds/errors';

/** One call the bot made on an interaction, as Discord would receive it. */
interface Sent {
  kind: 'reply' | 'editReply' | 'followUp' | 'respond';
  body: unknown;
}

/**
 * A hand-written stand-in for a discord.js chat-input interaction: the few members the router
 * touches, with discord.js's deferred/replied bookkeeping.
 */
class FakeCommandInteraction {
  deferred = false;
  replied = false;
  readonly guildId = '111111111111111111';
  readonly sent: Sent[] = [];
  readonly options = { getSubcommand: () => this.subcommand };
  constructor(
    readonly commandName: string,
    private readonly subcommand: string | null = null,
    private readonly failReplies = false,
  ) {}
  isAutocomplete(): boolean {
    return false;
  }
  isChatInputCommand(): boolean {
    return true;
  }
  deferReply(): Promise<void> {
    this.deferred = true;
    return Promise.resolve();
  }
  reply(body: unknown): Promise<void> {
    if (this.failReplies) return Promise.reject(new Error('Unknown interaction'));
    this.replied = true;
    this.sent.push({ kind: 'reply', body });
    return Promise.resolve();
  }
  editReply(body: unknown): Promise<void> {
    this.replied = true;
    this.sent.push({ kind: 'editReply', body });
    return Promise.resolve();
  }
  followUp(body: unknown): Promise<void> {
    this.sent.push({ kind: 'followUp', body });
    return Promise.resolve();
  }
}

/** The same for an autocomplete interaction. */
class FakeAutocompleteInteraction {
  responded = false;
  readonly sent: Sent[] = [];
  constructor(readonly commandName: string) {}
  isAutocomplete(): boolean {
    return true;
  }
  respond(choices: unknown): Promise<void> {
    this.responded = true;
    this.sent.push({ kind: 'respond', body: choices });
    return Promise.resolve();
  }
}

/** A real pino logger whose JSON lines are kept for the test to read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function command(
  name: string,
  execute: SlashCommand<null>['execute'],
  autocomplete?: SlashCommand<null>['autocomplete'],
): SlashCommand<null> {
  return {
    data: { name, description: `${name} command` },
    execute,
    ...(autocomplete ? { autocomplete } : {}),
  };
}

async function route(commands: SlashCommand<null>[], interaction: object) {
  const { logger, lines } = capturingLogger();
  const router = createInteractionRouter(commands, null, logger);
  await router(interaction as Interaction);
  // pino writes asynchronously to a plain stream; let it flush.
  await new Promise((resolve) => setImmediate(resolve));
  return lines;
}

const EPHEMERAL = { flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } };

describe('the interaction router', () => {
  it('answers an unexpected error privately with a reference that the log also carries', async () => {
    const interaction = new FakeCommandInteraction('feed', 'list');
    const lines = await route(
      [
        command('feed', () => {
          throw new TypeError('cannot read properties of undefined');
        }),
      ],
      interaction,
    );

    expect(interaction.sent).toHaveLength(1);
    const [answer] = interaction.sent;
    expect(answer).toMatchObject({ kind: 'reply', body: EPHEMERAL });
    const content = (answer!.body as { content: string }).content;
    expect(content).toMatch(/went wrong on Herald’s side/);
    expect(content).toContain('`/feed list`');
    const reference = /reference: `([0-9a-f]{8})`/.exec(content)?.[1];
    expect(reference).toBeDefined();
    const logged = lines.find((line) => line['msg'] === 'command failed');
    expect(logged).toMatchObject({
      level: 50,
      reference,
      command: 'feed list',
      guildId: interaction.guildId,
      err: { type: 'TypeError', message: 'cannot read properties of undefined' },
    });
  });

  it.each([
    ['a UserFacingError', new UserFacingError('Pick a text channel.')],
    ['a FeedError', new FeedTimeoutError('https://slow.example/feed', 2000)],
  ])('answers %s privately with its own message, and logs no error', async (_what, error) => {
    const interaction = new FakeCommandInteraction('feed', 'add');
    const lines = await route(
      [
        command('feed', () => {
          throw error;
        }),
      ],
      interaction,
    );
    expect(interaction.sent).toEqual([{ kind: 'reply', body: { content: error.message, ...EPHEMERAL } }]);
    expect(lines.filter((line) => (line['level'] as number) >= 50)).toEqual([]);
  });

  it('replaces the loading message when the command had deferred before failing', async () => {
    const interaction = new FakeCommandInteraction('feed', 'add');
    await route(
      [
        command('feed', async (received) => {
          await received.deferReply();
          throw new UserFacingError('The site did not answer.');
        }),
      ],
      interaction,
    );
    expect(interaction.sent).toEqual([
      { kind: 'editReply', body: { content: 'The site did not answer.', allowedMentions: { parse: [] } } },
    ]);
  });

  it('sends a private follow-up when the command had already replied before failing', async () => {
    const interaction = new FakeCommandInteraction('feed', 'list');
    await route(
      [
        command('feed', async (received) => {
          await received.reply({ content: 'page 1' });
          throw new Error('page 2 failed');
        }),
      ],
      interaction,
    );
    expect(interaction.sent).toHaveLength(2);
    expect(interaction.sent[1]).toMatchObject({ kind: 'followUp', body: EPHEMERAL });
    expect((interaction.sent[1]!.body as { content: string }).content).toMatch(/reference/);
  });

  it('logs, rather than throws, when even the answer cannot be sent', async () => {
    const interaction = new FakeCommandInteraction('feed', 'list', true);
    const lines = await route(
      [
        command('feed', () => {
          throw new UserFacingError('nope');
        }),
      ],
      interaction,
    );
    expect(lines.some((line) => line['msg'] === 'could not answer an interaction')).toBe(true);
  });

  it('tells the member when a command is no longer supported', async () => {
    const interaction = new FakeCommandInteraction('subscribe');
    await route([command('feed', () => Promise.resolve())], interaction);
    expect(interaction.sent).toHaveLength(1);
    expect(interaction.sent[0]).toMatchObject({ kind: 'reply', body: EPHEMERAL });
    expect((interaction.sent[0]!.body as { content: string }).content).toMatch(/no longer supported/);
  });

  it('offers no choices when autocomplete fails, and logs why', async () => {
    const interaction = new FakeAutocompleteInteraction('feed');
    const lines = await route(
      [
        command(
          'feed',
          () => Promise.resolve(),
          () => {
            throw new Error('store closed');
          },
        ),
      ],
      interaction,
    );
    expect(interaction.sent).toEqual([{ kind: 'respond', body: [] }]);
    expect(lines.find((line) => line['msg'] === 'autocomplete failed')).toMatchObject({ command: 'feed' });
  });
});
