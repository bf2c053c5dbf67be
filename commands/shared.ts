import {
  ChannelType,
  MessageFlags,
  PermissionFlagsBits,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type GuildBasedChannel,
  type InteractionEditReplyOptions,
  type PermissionsBitField,
} from 'discord.js';
import type { CommandContext } from '../src/discord/context';
import { UserFacingError } from '../src/errors';
import { escapeDiscordText } from '../src/feeds/html-to-markdown';
import { fold } from '../src/poller/post-queries';

/** Discord allows at most 25 autocomplete choices, each name at most 100 characters. */
const MAX_CHOICES = 25;
const MAX_CHOICE_NAME = 100;

/** When work takes longer than this, the reply is deferred so Discord's 3 s window is never missed. */
export const DEFER_AFTER_MS = 1_500;

/** The server an interaction came from; every command here is guild-only. */
export function guildIdOf(interaction: ChatInputCommandInteraction | AutocompleteInteraction): string {
  if (!interaction.guildId)
    throw new UserFacingError('Herald’s commands work in servers, not in direct messages.');
  return interaction.guildId;
}

/**
 * Runs `work`, deferring the (ephemeral) reply if it is not done within DEFER_AFTER_MS, then
 * answers with what `work` returned; errors propagate to the router, which answers them.
 */
export async function replyWhenReady(
  interaction: ChatInputCommandInteraction,
  work: () => Promise<InteractionEditReplyOptions & { content?: string }>,
  options: { ephemeral: boolean } = { ephemeral: true },
): Promise<void> {
  const flags = options.ephemeral ? MessageFlags.Ephemeral : undefined;
  let timer: NodeJS.Timeout | undefined;
  const deferral = new Promise<'defer'>((resolve) => {
    timer = setTimeout(() => resolve('defer'), DEFER_AFTER_MS);
  });
  const pending = work();
  // Keep a rejection from being unhandled while we race it against the timer.
  pending.catch(() => undefined);
  const first = await Promise.race([
    pending.then(
      () => 'done' as const,
      () => 'done' as const,
    ),
    deferral,
  ]);
  clearTimeout(timer);
  if (first === 'defer') {
    await interaction.deferReply(flags === undefined ? {} : { flags });
  }
  const result = await pending;
  const body = { allowedMentions: { parse: [] }, ...result };
  if (interaction.deferred) {
    await interaction.editReply(body);
  } else {
    await interaction.reply({ ...body, ...(flags === undefined ? {} : { flags }) } as Parameters<
      ChatInputCommandInteraction['reply']
    >[0]);
  }
}

/** Answers ephemerally at once. */
export async function replyEphemeral(
  interaction: ChatInputCommandInteraction,
  content: string,
): Promise<void> {
  await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

/** Autocomplete over this server's subscriptions, matched on feed title, URL and channel name. */
export async function autocompleteSubscriptions(
  interaction: AutocompleteInteraction,
  context: CommandContext,
): Promise<void> {
  const guildId = guildIdOf(interaction);
  const typed = fold(interaction.options.getFocused().toString().trim());
  const views = await context.subscriptions.list(guildId);
  const choices = views
    .map(({ subscription, feed }) => {
      const channelName =
        interaction.guild?.channels.cache.get(subscription.channelId)?.name ?? subscription.channelId;
      const title = feed?.title ?? subscription.feedUrl;
      const haystack = fold(`${title}\n${subscription.feedUrl}\n${channelName}\n${subscription.id}`);
      // The channel stays readable however long the title is.
      const suffix = clip(` → #${channelName}${subscription.paused ? ' (paused)' : ''}`, MAX_CHOICE_NAME / 2);
      const name = `${clip(title.trim() || subscription.feedUrl, MAX_CHOICE_NAME - suffix.length)}${suffix}`;
      return { haystack, choice: { name, value: subscription.id } };
    })
    .filter(({ haystack }) => typed === '' || haystack.includes(typed))
    .slice(0, MAX_CHOICES)
    .map(({ choice }) => choice);
  await interaction.respond(choices);
}

/**
 * The subscription chosen in a `feed` option. Autocomplete fills in an id; a member who typed the
 * feed's exact title or URL instead gets that feed too. Anything else, another server's id
 * included, is "not found" (and the same words either way, so ids from elsewhere reveal nothing).
 */
export async function chosenSubscriptionId(
  interaction: ChatInputCommandInteraction,
  context: CommandContext,
  required: true,
): Promise<string>;
export async function chosenSubscriptionId(
  interaction: ChatInputCommandInteraction,
  context: CommandContext,
  required: false,
): Promise<string | null>;
export async function chosenSubscriptionId(
  interaction: ChatInputCommandInteraction,
  context: CommandContext,
  required: boolean,
): Promise<string | null> {
  const raw = interaction.options.getString('feed', required)?.trim() ?? null;
  if (raw === null || raw === '') {
    if (required) throw notFound(interaction, raw ?? '');
    return null;
  }
  const guildId = guildIdOf(interaction);
  // What autocomplete filled in: one read, not a scan of the server's feeds.
  if (/^[A-Za-z0-9]{1,32}$/.test(raw) && (await isSubscriptionOf(context, guildId, raw))) return raw;
  const views = await context.subscriptions.list(guildId);
  const wanted = fold(raw);
  const matches = views.filter(
    ({ subscription, feed }) =>
      fold(subscription.feedUrl) === wanted || (feed !== undefined && fold(feed.title.trim()) === wanted),
  );
  if (matches.length === 1) return matches[0]!.subscription.id;
  if (matches.length > 1) {
    throw new UserFacingError(
      `${matches.length} of this server’s feeds are called “${clip(escapeDiscordText(raw), 100)}”. Pick the one you mean from the list that appears as you type.`,
    );
  }
  throw notFound(interaction, raw);
}

async function isSubscriptionOf(context: CommandContext, guildId: string, id: string): Promise<boolean> {
  try {
    await context.subscriptions.status(guildId, id);
    return true;
  } catch (error) {
    if (error instanceof UserFacingError) return false;
    throw error;
  }
}

function notFound(interaction: ChatInputCommandInteraction, raw: string): UserFacingError {
  const otherwise =
    interaction.commandName === 'feed'
      ? 'or see them all with `/feed list`'
      : 'or leave `feed` out to see posts from all of this server’s feeds';
  return new UserFacingError(
    `This server has no feed “${clip(escapeDiscordText(raw), 100)}”. Pick one from the list that appears as you type, ${otherwise}.`,
  );
}

/** Bot permissions a channel needs before Herald can announce there. */
const REQUIRED_PERMISSIONS = [
  { flag: PermissionFlagsBits.ViewChannel, name: 'View Channel' },
  { flag: PermissionFlagsBits.SendMessages, name: 'Send Messages' },
  { flag: PermissionFlagsBits.EmbedLinks, name: 'Embed Links' },
] as const;

/**
 * Checks that the channel can carry announcements: a text or announcement channel (not a thread,
 * voice channel or category) where the bot can view, send and embed links.
 */
export function assertAnnounceable(
  interaction: ChatInputCommandInteraction,
  channel: GuildBasedChannel,
): void {
  if (channel.type !== ChannelType.GuildText && channel.type !== ChannelType.GuildAnnouncement) {
    const kind = channel.isThread()
      ? 'a thread'
      : channel.type === ChannelType.GuildCategory
        ? 'a category'
        : channel.isVoiceBased()
          ? 'a voice channel'
          : 'not a text channel';
    throw new UserFacingError(
      `<#${channel.id}> is ${kind}. Herald announces in text or announcement channels: pick one with the \`channel\` option.`,
    );
  }
  const permissions = botPermissionsIn(interaction, channel);
  if (!permissions) {
    throw new UserFacingError(
      'Herald could not read its permissions in that channel. Try again in a moment.',
    );
  }
  const missing = REQUIRED_PERMISSIONS.filter(({ flag }) => !permissions.has(flag)).map(({ name }) => name);
  if (missing.length > 0) {
    throw new UserFacingError(
      `Herald is missing ${listOf(missing)} in <#${channel.id}>. Give Herald's role ${missing.length === 1 ? 'that permission' : 'those permissions'} there (channel settings → Permissions), then try again.`,
    );
  }
}

/**
 * Herald's own permissions in a channel: as Discord computed them for the interaction's channel,
 * else from the cached roles and overwrites.
 */
export function botPermissionsIn(
  interaction: ChatInputCommandInteraction,
  channel: GuildBasedChannel,
): Readonly<PermissionsBitField> | null {
  if (channel.id === interaction.channelId) return interaction.appPermissions;
  const me = interaction.guild?.members.me;
  return me ? channel.permissionsFor(me) : null;
}

/** A masked link that shows no preview embed. */
export function maskedLink(text: string, url: string | null): string {
  const safe = escapeDiscordText(text).replace(/[[\]]/g, (char) => `\\${char}`);
  return url ? `[${safe}](<${url}>)` : safe;
}

/** Discord's relative timestamp for an epoch-ms time. */
export function relativeTime(ms: number | null | undefined): string {
  return ms ? `<t:${Math.floor(ms / 1000)}:R>` : 'never';
}

/** Cuts to `limit` characters with an ellipsis. */
export function clip(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

function listOf(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** Splits lines into messages of at most `limit` characters. */
export function paginate(lines: readonly string[], limit = 1900): string[] {
  const pages: string[] = [];
  let current = '';
  for (const line of lines) {
    const next = current ? `${current}\n${line}` : line;
    if (next.length > limit && current) {
      pages.push(current);
      current = clip(line, limit);
    } else {
      current = clip(next, limit);
    }
  }
  if (current) pages.push(current);
  return pages;
}
