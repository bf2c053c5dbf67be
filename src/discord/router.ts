import { randomBytes } from 'node:crypto';
import {
  MessageFlags,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { UserFacingError } from '../errors';
import { FeedError } from '../feeds/errors';
import type { Logger } from '../logger';

/** One slash command: its definition as registered with Discord and its handlers. */
export interface SlashCommand<Context> {
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, context: Context): Promise<void>;
  autocomplete?(interaction: AutocompleteInteraction, context: Context): Promise<void>;
}

/**
 * Routes interactions to commands behind one error boundary: a UserFacingError or FeedError is
 * answered ephemerally with its message; anything else is logged with a reference the user can
 * quote, and answered with an apology. An autocomplete that fails answers with no choices.
 */
export function createInteractionRouter<Context>(
  commands: readonly SlashCommand<Context>[],
  context: Context,
  logger: Logger,
): (interaction: Interaction) => Promise<void> {
  const byName = new Map(commands.map((command) => [command.data.name, command]));

  return async (interaction) => {
    if (interaction.isAutocomplete()) {
      const command = byName.get(interaction.commandName);
      try {
        if (command?.autocomplete) await command.autocomplete(interaction, context);
        else await interaction.respond([]);
      } catch (error) {
        logger.warn({ err: error, command: interaction.commandName }, 'autocomplete failed');
        if (!interaction.responded) await interaction.respond([]).catch(() => undefined);
      }
      return;
    }
    if (!interaction.isChatInputCommand()) return;
    const command = byName.get(interaction.commandName);
    if (!command) {
      await answer(interaction, 'This command is no longer supported. Type `/` to see Herald’s commands.');
      return;
    }
    try {
      await command.execute(interaction, context);
    } catch (error) {
      if (error instanceof UserFacingError || error instanceof FeedError) {
        await answer(interaction, error.message).catch((replyError: unknown) =>
          logger.warn({ err: replyError }, 'could not answer an interaction'),
        );
        return;
      }
      const reference = randomBytes(4).toString('hex');
      logger.error(
        { err: error, reference, command: describeCommand(interaction), guildId: interaction.guildId },
        'command failed',
      );
      await answer(
        interaction,
        `Something went wrong on Herald’s side and \`/${describeCommand(interaction)}\` did not finish. Please try again in a moment; if it keeps happening, give the bot operator this reference: \`${reference}\`.`,
      ).catch((replyError: unknown) => logger.warn({ err: replyError }, 'could not answer an interaction'));
    }
  };
}

/** Answers ephemerally whether or not the interaction was already deferred or replied to. */
export async function answer(interaction: ChatInputCommandInteraction, content: string): Promise<void> {
  const body = { content, allowedMentions: { parse: [] } };
  if (interaction.deferred && !interaction.replied) {
    await interaction.editReply(body);
  } else if (interaction.replied) {
    await interaction.followUp({ ...body, flags: MessageFlags.Ephemeral });
  } else {
    await interaction.reply({ ...body, flags: MessageFlags.Ephemeral });
  }
}

function describeCommand(interaction: ChatInputCommandInteraction): string {
  const sub = interaction.options.getSubcommand(false);
  return sub ? `${interaction.commandName} ${sub}` : interaction.commandName;
}
