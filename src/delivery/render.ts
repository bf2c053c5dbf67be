import type { APIEmbed, RESTPostAPIChannelMessageJSONBody } from 'discord.js';
import { escapeDiscordText } from '../feeds/html-to-markdown';
import { imageOf, summaryOf } from '../feeds/summary';
import type { Feed, FeedItem } from '../feeds/types';
import { truncateMarkdown } from './truncate-markdown';

/** Discord's documented limits for one message with embeds. */
export const DISCORD_LIMITS = {
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedAuthorName: 256,
  embedFooterText: 2048,
  embedTotal: 6000,
  url: 2048,
} as const;

/** How long an announcement's description is unless a subscription asks otherwise. */
export const DEFAULT_DESCRIPTION_LENGTH = 350;

/** Herald's accent colour on every announcement. */
export const EMBED_COLOR = 0xf2a33a;

/** Options a subscription brings to rendering. */
export interface RenderOptions {
  /** A role to ping with the post; the only mention ever allowed through. */
  mentionRoleId?: string | null;
  /** Description length before the cut, at most 4,096. */
  descriptionLength?: number;
}

/** The JSON body of `POST /channels/{id}/messages`, without the delivery-time `nonce`. */
export type MessagePayload = RESTPostAPIChannelMessageJSONBody;

/**
 * Renders an item as the message Herald posts: one embed with the linked title, a description cut
 * at a word boundary, author, timestamp, image and the feed's title in the footer, within every
 * Discord limit; `allowed_mentions` lets through the subscription's role and nothing else.
 */
export function renderMessage(item: FeedItem, feed: Feed, options: RenderOptions = {}): MessagePayload {
  const embed: APIEmbed = {
    title: clip(escapeDiscordText(titleOf(item, feed)), DISCORD_LIMITS.embedTitle),
    color: EMBED_COLOR,
  };
  const url = usableUrl(item.link);
  if (url) embed.url = url;

  const descriptionLength = Math.min(
    options.descriptionLength ?? DEFAULT_DESCRIPTION_LENGTH,
    DISCORD_LIMITS.embedDescription,
  );
  const summary = summaryOf(item);
  if (summary) embed.description = truncateMarkdown(summary, descriptionLength);
  if (item.author) embed.author = { name: clip(item.author, DISCORD_LIMITS.embedAuthorName) };
  if (item.published) embed.timestamp = item.published;
  const image = usableUrl(imageOf(item));
  if (image) embed.image = { url: image };
  const footer = feed.title.trim();
  if (footer) embed.footer = { text: clip(footer, DISCORD_LIMITS.embedFooterText) };

  fitTotal(embed);
  return withMentions({ embeds: [embed] }, options.mentionRoleId ?? null);
}

/**
 * The fallback when Discord refuses the full embed (400): just the linked title, so the post is
 * announced rather than lost.
 */
export function renderMinimalMessage(
  item: FeedItem,
  feed: Feed,
  options: RenderOptions = {},
): MessagePayload {
  const embed: APIEmbed = {
    title: clip(escapeDiscordText(titleOf(item, feed)), DISCORD_LIMITS.embedTitle),
    color: EMBED_COLOR,
  };
  const url = usableUrl(item.link);
  if (url) embed.url = url;
  return withMentions({ embeds: [embed] }, options.mentionRoleId ?? null);
}

/** The number of characters Discord counts towards an embed's 6,000 total. */
export function embedLength(embed: APIEmbed): number {
  return (
    (embed.title?.length ?? 0) +
    (embed.description?.length ?? 0) +
    (embed.author?.name.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0)
  );
}

function withMentions(body: MessagePayload, mentionRoleId: string | null): MessagePayload {
  if (mentionRoleId) {
    return {
      ...body,
      content: `<@&${mentionRoleId}>`,
      allowed_mentions: { parse: [], roles: [mentionRoleId] },
    };
  }
  return { ...body, allowed_mentions: { parse: [] } };
}

function titleOf(item: FeedItem, feed: Feed): string {
  const title = item.title?.trim();
  if (title) return title;
  return `New post in ${feed.title.trim() || 'a feed'}`;
}

/** Shrinks the description, then the footer, until the embed fits Discord's 6,000 total. */
function fitTotal(embed: APIEmbed): void {
  let excess = embedLength(embed) - DISCORD_LIMITS.embedTotal;
  if (excess <= 0) return;
  if (embed.description) {
    const target = Math.max(0, embed.description.length - excess);
    if (target === 0) delete embed.description;
    else embed.description = truncateMarkdown(embed.description, target);
    excess = embedLength(embed) - DISCORD_LIMITS.embedTotal;
  }
  if (excess > 0 && embed.footer) {
    embed.footer.text = clip(embed.footer.text, Math.max(1, embed.footer.text.length - excess));
  }
}

function clip(text: string, limit: number): string {
  const chars = [...text];
  if (chars.length <= limit && text.length <= limit) return text;
  let out = '';
  for (const char of chars) {
    if (out.length + char.length > limit - 1) break;
    out += char;
  }
  return `${out.trimEnd()}…`;
}

function usableUrl(url: string | null): string | null {
  if (!url || url.length > DISCORD_LIMITS.url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}
