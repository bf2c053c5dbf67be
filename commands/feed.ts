import {
  ChannelType,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
  type SlashCommandChannelOption,
  type SlashCommandStringOption,
  type GuildBasedChannel,
} from 'discord.js';
import { renderMessage } from '../src/delivery/render';
import type { CommandContext } from '../src/discord/context';
import { escapeDiscordText } from '../src/feeds/html-to-markdown';
import type { SlashCommand } from '../src/discord/router';
import { UserFacingError } from '../src/errors';
import { MAX_BACKFILL, newestFirst, type SubscriptionView } from '../src/poller/subscription-service';
import type { Subscription } from '../src/store';
import {
  assertAnnounceable,
  autocompleteSubscriptions,
  botPermissionsIn,
  chosenSubscriptionId,
  guildIdOf,
  maskedLink,
  paginate,
  relativeTime,
  replyEphemeral,
  replyWhenReady,
} from './shared';

/** The `feed` option: a subscription of this server, chosen with autocomplete. */
const subscriptionOption = (option: SlashCommandStringOption) =>
  option.setName('feed').setDescription('The subscription').setRequired(true).setAutocomplete(true);

/** The `url` option of `add` and `preview`. */
const urlOption = (option: SlashCommandStringOption) =>
  option
    .setName('url')
    .setDescription('Address of the feed, or of the site that has one')
    .setRequired(true)
    .setMaxLength(2000);

/** A `channel` option limited to the channel types Herald announces in. */
const announceChannelOption = (option: SlashCommandChannelOption, description: string) =>
  option
    .setName('channel')
    .setDescription(description)
    .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement);

const data = new SlashCommandBuilder()
  .setName('feed')
  .setDescription('Subscribe channels to RSS, Atom and JSON feeds')
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((sub) =>
    sub
      .setName('add')
      .setDescription('Announce new posts of a feed in a channel')
      .addStringOption(urlOption)
      .addChannelOption((option) =>
        announceChannelOption(option, 'Where to announce (default: this channel)'),
      )
      .addIntegerOption((option) =>
        option
          .setName('backfill')
          .setDescription(
            `Also post this many of the newest existing items now (0–${MAX_BACKFILL}, default 0)`,
          )
          .setMinValue(0)
          .setMaxValue(MAX_BACKFILL),
      )
      .addRoleOption((option) => option.setName('mention').setDescription('A role to ping with every post')),
  )
  .addSubcommand((sub) =>
    sub.setName('remove').setDescription('Stop announcing a feed').addStringOption(subscriptionOption),
  )
  .addSubcommand((sub) =>
    sub
      .setName('list')
      .setDescription('List this server’s feeds')
      .addChannelOption((option) => announceChannelOption(option, 'Only feeds announced in this channel')),
  )
  .addSubcommand((sub) =>
    sub
      .setName('status')
      .setDescription('Health of a feed: last check, errors, next check')
      .addStringOption(subscriptionOption),
  )
  .addSubcommand((sub) =>
    sub.setName('pause').setDescription('Stop announcing a feed for now').addStringOption(subscriptionOption),
  )
  .addSubcommand((sub) =>
    sub
      .setName('resume')
      .setDescription('Announce a paused feed again (what was published meanwhile is skipped)')
      .addStringOption(subscriptionOption),
  )
  .addSubcommand((sub) =>
    sub
      .setName('preview')
      .setDescription('Show how the newest post of a feed would look')
      .addStringOption(urlOption),
  )
  .toJSON();

async function add(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const guildId = guildIdOf(interaction);
  const url = interaction.options.getString('url', true);
  const backfill = interaction.options.getInteger('backfill') ?? 0;
  if (backfill < 0 || backfill > MAX_BACKFILL) {
    throw new UserFacingError(`\`backfill\` must be between 0 and ${MAX_BACKFILL}; you gave ${backfill}.`);
  }
  const channel = targetChannel(interaction);
  assertAnnounceable(interaction, channel);
  const role = interaction.options.getRole('mention');
  if (role && role.id === guildId) {
    throw new UserFacingError(
      'Herald does not ping @everyone. Pick a specific role for `mention`, or leave it out.',
    );
  }
  // Discord shows a role it may not ping as plain text; better to say so now than to stay silent.
  const silentRole =
    role !== null &&
    !role.mentionable &&
    !botPermissionsIn(interaction, channel)?.has(PermissionFlagsBits.MentionEveryone);

  await replyWhenReady(interaction, async () => {
    const result = await context.subscriptions.subscribe({
      guildId,
      channelId: channel.id,
      url,
      backfill,
      mentionRoleId: role?.id ?? null,
      createdBy: interaction.user.id,
    });
    const { feed, latest, backfilled, subscription } = result;
    const lines = [
      `✅ <#${channel.id}> now follows **${escapeDiscordText(feed.title)}**${feed.discoveredFrom ? ` (found on <${feed.discoveredFrom}>)` : ''}.`,
      `Feed: <${feed.url}> · id \`${subscription.id}\`${role ? ` · pings <@&${role.id}>` : ''}`,
      latest
        ? `Latest item: ${maskedLink(latest.title ?? 'untitled', latest.link)}${latest.published ? ` (${relativeTime(Date.parse(latest.published))})` : ''}`
        : 'The feed has no items yet.',
      backfilled > 0
        ? `Posting the ${backfilled} newest item${backfilled === 1 ? '' : 's'} now; new posts follow as they are published.`
        : 'New posts will be announced as they are published.',
    ];
    if (silentRole) {
      lines.push(
        `⚠️ <@&${role.id}> is not mentionable, so posts will name it without notifying anyone. Turn on “Allow anyone to @mention this role” (Server Settings → Roles), or give Herald the “Mention @everyone, @here, and All Roles” permission.`,
      );
    }
    return { content: lines.join('\n') };
  });
}

async function remove(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const { subscription, feed } = await context.subscriptions.unsubscribe(
    guildIdOf(interaction),
    await chosenSubscriptionId(interaction, context, true),
  );
  await replyEphemeral(
    interaction,
    `🗑️ <#${subscription.channelId}> no longer follows **${escapeDiscordText(feed?.title ?? subscription.feedUrl)}**.`,
  );
}

async function list(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const channel = interaction.options.getChannel('channel');
  const views = await context.subscriptions.list(guildIdOf(interaction), channel?.id ?? null);
  if (views.length === 0) {
    await replyEphemeral(
      interaction,
      channel
        ? `<#${channel.id}> follows no feeds.`
        : 'This server follows no feeds yet. Add one with `/feed add`.',
    );
    return;
  }
  const header = `**${views.length} feed${views.length === 1 ? '' : 's'}**${channel ? ` in <#${channel.id}>` : ''} (limit ${context.config.maxFeedsPerGuild}):`;
  const lines = views.map(describeLine);
  const [first, ...rest] = paginate([header, ...lines]);
  await replyEphemeral(interaction, first!);
  for (const page of rest) {
    await interaction.followUp({
      content: page,
      flags: MessageFlags.Ephemeral,
      allowedMentions: { parse: [] },
    });
  }
}

function describeLine({ subscription, feed }: SubscriptionView): string {
  const title = maskedLink(feed?.title ?? subscription.feedUrl, subscription.feedUrl);
  const state = subscription.paused
    ? `⏸️ paused — ${pausedReason(subscription)}`
    : feed && feed.consecutiveFailures > 0
      ? `⚠️ failing (${feed.consecutiveFailures}×)`
      : '✅ active';
  return `\`${subscription.id}\` ${title} → <#${subscription.channelId}> · ${state} · last post ${relativeTime(subscription.lastPostAt)}`;
}

async function status(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const { subscription, feed } = await context.subscriptions.status(
    guildIdOf(interaction),
    await chosenSubscriptionId(interaction, context, true),
  );
  const lines = [
    `**${escapeDiscordText(feed?.title ?? subscription.feedUrl)}** → <#${subscription.channelId}> (\`${subscription.id}\`)`,
    `Feed: <${subscription.feedUrl}>`,
    `State: ${subscription.paused ? `⏸️ paused — ${pausedReason(subscription)} \`/feed resume\` starts it again.` : '✅ active'}`,
    `Last check: ${relativeTime(feed?.lastCheckedAt)}${feed?.lastStatus ? ` (HTTP ${feed.lastStatus})` : ''}`,
    `Last success: ${relativeTime(feed?.lastSuccessAt)}`,
    `Next check: ${feed ? relativeTime(feed.nextCheckAt) : 'not scheduled'}${feed ? ` (every ${formatInterval(feed.intervalSeconds)})` : ''}`,
    `Consecutive failures: ${feed?.consecutiveFailures ?? 0}`,
    `Last error: ${feed?.lastError ? escapeDiscordText(feed.lastError.message) : 'none'}`,
    `Items posted: ${subscription.postedCount} · last post ${relativeTime(subscription.lastPostAt)}`,
  ];
  if (subscription.mentionRoleId) lines.push(`Pings: <@&${subscription.mentionRoleId}>`);
  if (feed?.rebaselinedAt) {
    lines.push(
      `Re-baselined ${relativeTime(feed.rebaselinedAt)}: the feed changed its item ids, so old items were not re-posted.`,
    );
  }
  await replyEphemeral(interaction, lines.join('\n'));
}

async function pause(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const { subscription, feed, changed } = await context.subscriptions.pause(
    guildIdOf(interaction),
    await chosenSubscriptionId(interaction, context, true),
    `Paused by <@${interaction.user.id}> with \`/feed pause\`.`,
  );
  const title = escapeDiscordText(feed?.title ?? subscription.feedUrl);
  await replyEphemeral(
    interaction,
    changed
      ? `⏸️ Paused **${title}** in <#${subscription.channelId}>: nothing is posted until \`/feed resume\`, and what is published meanwhile will be skipped.`
      : `**${title}** in <#${subscription.channelId}> is already paused — ${pausedReason(subscription)} \`/feed resume\` starts it again.`,
  );
}

async function resume(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  const guildId = guildIdOf(interaction);
  const id = await chosenSubscriptionId(interaction, context, true);
  const current = await context.subscriptions.status(guildId, id);
  const title = escapeDiscordText(current.feed?.title ?? current.subscription.feedUrl);
  if (!current.subscription.paused) {
    await replyEphemeral(
      interaction,
      `**${title}** in <#${current.subscription.channelId}> is not paused; new posts are being announced.`,
    );
    return;
  }
  // A subscription paused because Herald lost the channel or a permission would only pause again.
  const channel = interaction.guild?.channels.cache.get(current.subscription.channelId);
  if (!channel) {
    throw new UserFacingError(
      `The channel of **${title}** no longer exists or Herald cannot see it. Remove this feed with \`/feed remove\` and add it to another channel.`,
    );
  }
  assertAnnounceable(interaction, channel);
  const { subscription } = await context.subscriptions.resume(guildId, id);
  await replyEphemeral(
    interaction,
    `▶️ Resumed **${title}** in <#${subscription.channelId}>. Posts published while it was paused are skipped; new ones will be announced.`,
  );
}

async function preview(interaction: ChatInputCommandInteraction, context: CommandContext): Promise<void> {
  guildIdOf(interaction);
  const url = interaction.options.getString('url', true);
  await replyWhenReady(interaction, async () => {
    const { feed, items } = await context.subscriptions.preview(url);
    const newest = newestFirst(items)[0];
    if (!newest)
      return { content: `**${escapeDiscordText(feed.title)}** is a valid feed but has no items yet.` };
    const message = renderMessage(newest, feed);
    return {
      content: `Preview of the newest item of **${escapeDiscordText(feed.title)}** (<${feed.url}>), as Herald would post it:`,
      embeds: message.embeds ?? [],
    };
  });
}

function targetChannel(interaction: ChatInputCommandInteraction): GuildBasedChannel {
  const option = interaction.options.getChannel('channel');
  const id = option?.id ?? interaction.channelId;
  const channel = interaction.guild?.channels.cache.get(id);
  if (!channel) {
    throw new UserFacingError(
      'Herald cannot see that channel. Check that it can view it, or pick another with `channel`.',
    );
  }
  return channel;
}

function pausedReason(subscription: Subscription): string {
  return subscription.pausedReason ?? 'Paused with `/feed pause`.';
}

function formatInterval(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

const handlers: Record<
  string,
  (interaction: ChatInputCommandInteraction, context: CommandContext) => Promise<void>
> = {
  add,
  remove,
  list,
  status,
  pause,
  resume,
  preview,
};

/** `/feed`: manage this server's subscriptions (Manage Server). */
export const feedCommand: SlashCommand<CommandContext> = {
  data,
  async execute(interaction, context) {
    const handler = handlers[interaction.options.getSubcommand(true)];
    if (!handler)
      throw new UserFacingError('That subcommand no longer exists. Type `/feed` to see the current ones.');
    await handler(interaction, context);
  },
  autocomplete: autocompleteSubscriptions,
};
