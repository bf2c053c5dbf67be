import {
  InteractionContextType,
  MessageFlags,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
  type SlashCommandBooleanOption,
  type SlashCommandStringOption,
} from 'discord.js';
import type { CommandContext } from '../src/discord/context';
import { escapeDiscordText } from '../src/feeds/html-to-markdown';
import type { SlashCommand } from '../src/discord/router';
import { UserFacingError } from '../src/errors';
import { MAX_SEARCH_QUERY_LENGTH, type FoundPost } from '../src/poller/post-queries';
import {
  autocompleteSubscriptions,
  chosenSubscriptionId,
  guildIdOf,
  maskedLink,
  paginate,
  relativeTime,
} from './shared';

/** `/posts recent` shows 1–10 items, 5 unless asked. */
const MAX_COUNT = 10;
const DEFAULT_COUNT = 5;
/** `/posts search` shows at most this many matches. */
const SEARCH_LIMIT = 10;

const feedOption = (option: SlashCommandStringOption) =>
  option
    .setName('feed')
    .setDescription('Only this feed (default: all of this server’s feeds)')
    .setAutocomplete(true);
const shareOption = (option: SlashCommandBooleanOption) =>
  option.setName('share').setDescription('Show the answer to everyone in the channel (default: only you)');

const data = new SlashCommandBuilder()
  .setName('posts')
  .setDescription('Recent posts from this server’s feeds')
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((sub) =>
    sub
      .setName('recent')
      .setDescription('The newest posts')
      .addStringOption(feedOption)
      .addIntegerOption((option) =>
        option
          .setName('count')
          .setDescription(`How many (1–${MAX_COUNT}, default ${DEFAULT_COUNT})`)
          .setMinValue(1)
          .setMaxValue(MAX_COUNT),
      )
      .addBooleanOption(shareOption),
  )
  .addSubcommand((sub) =>
    sub
      .setName('search')
      .setDescription('Find recent posts by words in their title or summary')
      .addStringOption((option) =>
        option
          .setName('query')
          .setDescription('Words to look for (case and accents do not matter)')
          .setRequired(true)
          .setMaxLength(MAX_SEARCH_QUERY_LENGTH),
      )
      .addStringOption(feedOption)
      .addBooleanOption(shareOption),
  )
  .toJSON();

async function recent(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const count = interaction.options.getInteger('count') ?? DEFAULT_COUNT;
  if (count < 1 || count > MAX_COUNT) {
    throw new UserFacingError(`\`count\` must be between 1 and ${MAX_COUNT}; you gave ${count}.`);
  }
  const guildId = guildIdOf(interaction);
  const subscriptionId = await chosenSubscriptionId(interaction, context, false);
  const posts = await context.posts.recent(guildId, { subscriptionId, count });
  await answerWithPosts(
    interaction,
    posts,
    `**${posts.length} newest post${posts.length === 1 ? '' : 's'}:**`,
    posts.length > 0 ? '' : await nothingYet(context, guildId, subscriptionId),
  );
}

async function search(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const query = interaction.options.getString('query', true);
  const posts = await context.posts.search(guildIdOf(interaction), {
    query,
    subscriptionId: await chosenSubscriptionId(interaction, context, false),
    limit: SEARCH_LIMIT,
  });
  await answerWithPosts(
    interaction,
    posts,
    `**${posts.length} post${posts.length === 1 ? '' : 's'} matching “${escapeDiscordText(query)}”:**`,
    `No recent post matches “${escapeDiscordText(query)}”. Herald searches the last 50 items of each feed.`,
  );
}

/** Why there is nothing to show: no feeds at all, or feeds that have not published anything yet. */
async function nothingYet(
  context: CommandContext,
  guildId: string,
  subscriptionId: string | null,
): Promise<string> {
  if (subscriptionId) return 'That feed has no posts yet. New ones show up here as it publishes them.';
  if ((await context.subscriptions.list(guildId)).length === 0) {
    return 'This server follows no feeds yet, so there are no posts to show. A server admin can add one with `/feed add`.';
  }
  return 'No posts yet: the feeds this server follows have not published anything Herald has seen.';
}

async function answerWithPosts(
  interaction: ChatInputCommandInteraction,
  posts: FoundPost[],
  header: string,
  none: string,
): Promise<void> {
  const share = interaction.options.getBoolean('share') ?? false;
  const flags = share ? undefined : MessageFlags.Ephemeral;
  const lines = posts.length === 0 ? [none] : [header, ...posts.map(describePost)];
  const [first, ...rest] = paginate(lines);
  // Feed text never pings anyone, even when shared.
  await interaction.reply({ content: first!, allowedMentions: { parse: [] }, ...(flags ? { flags } : {}) });
  for (const page of rest) {
    await interaction.followUp({
      content: page,
      allowedMentions: { parse: [] },
      ...(flags ? { flags } : {}),
    });
  }
}

function describePost({ item, feedTitle }: FoundPost): string {
  const when = item.published ? ` · ${relativeTime(Date.parse(item.published))}` : '';
  return `• ${maskedLink(item.title ?? 'untitled', item.link)} — ${escapeDiscordText(feedTitle)}${when}`;
}

const handlers: Record<
  string,
  (interaction: ChatInputCommandInteraction, context: CommandContext) => Promise<void>
> = {
  recent,
  search,
};

/** `/posts`: anyone can ask for recent posts. */
export const postsCommand: SlashCommand<CommandContext> = {
  data,
  async execute(interaction, context) {
    const handler = handlers[interaction.options.getSubcommand(true)];
    if (!handler)
      throw new UserFacingError('That subcommand no longer exists. Type `/posts` to see the current ones.');
    await handler(interaction, context);
  },
  autocomplete: autocompleteSubscriptions,
};
