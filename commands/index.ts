import type { CommandContext } from '../src/discord/context';
import type { SlashCommand } from '../src/discord/router';
import { feedCommand } from './feed';
import { postsCommand } from './posts';

/** Every slash command Herald registers. */
export const commands: readonly SlashCommand<CommandContext>[] = [feedCommand, postsCommand];
