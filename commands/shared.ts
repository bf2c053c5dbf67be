import {
  ChannelType,
  MessageFlags,
  PermissionFlagsBits,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type GuildBasedChannel,
  type InteractionEditReplyOptions,
} from 'discord.js';
import type { CommandContext } from '../src/discord/context';
import { UserFacingError } from '../src/errors';
import { escapeDiscordText } from '../src/feeds/html-to-markdown';

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
  const typed = interaction.options.getFocused().toString().trim().toLowerCase();
  const views = await context.subscriptions.list(guildId);
  const choices = views
    .map(({ subscription, feed }) => {
      const channelName =
        interaction.guild?.channels.cache.get(subscription.channelId)?.name ?? subscription.channelId;
      const title = feed?.title ?? subscription.feedUrl;
      const haystack = `${title}\n${subscription.feedUrl}\n${channelName}\n${subscription.id}`.toLowerCase();
      const label = `${title} → #${channelName}${subscription.paused ? ' (paused)' : ''}`;
      return { haystack, choice: { name: clip(label, MAX_CHOICE_NAME), value: subscription.id } };
    })
    .filter(({ haystack }) => typed === '' || haystack.includes(typed))
    .slice(0, MAX_CHOICES)
    .map(({ choice }) => choice);
  await interaction.respond(choices);
}

/** The subscription id chosen in a `feed` option (autocomplete gives ids; typing gives anything). */
export function subscriptionIdOption(interaction: ChatInputCommandInteraction, required: true): string;
export function subscriptionIdOption(
  interaction: ChatInputCommandInteraction,
  required: false,
): string | null;
export function subscriptionIdOption(
  interaction: ChatInputCommandInteraction,
  required: boolean,
): string | null {
  const raw = interaction.options.getString('feed', required)?.trim() ?? null;
  if (raw === null) return null;
  if (!/^[A-Za-z0-9]{1,32}$/.test(raw)) {
    throw new UserFacingError(
      'Pick a feed from the list that appears as you type (the option expects a subscription id). `/feed list` shows them all.',
    );
  }
  return raw;
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
  const me = interaction.guild?.members.me;
  const permissions =
    channel.id === interaction.channelId
      ? interaction.appPermissions
      : me
        ? channel.permissionsFor(me)
        : null;
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

/** A title made safe to show in chat: escaped markdown and no mentions. */
export function safeText(text: string): string {
  return escapeDiscordText(text);
}

/** A masked link that shows no preview embed. */
export function maskedLink(text: string, url: string | null): string {
  const safe = safeText(text).replace(/[[\]]/g, (char) => `\\${char}`);
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
