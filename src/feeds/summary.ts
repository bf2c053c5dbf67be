/**
 * Item summaries and pictures, made when shown rather than when parsed. Parsing keeps each entry's
 * text sources ({@link ItemText}) and HTML; converting HTML to Discord markdown, or scanning it for
 * a picture, is most of the cost of normalizing a feed, and a fetch only ever announces its few new
 * items, so only those are converted.
 */
import { decodeHTML } from 'entities';
import {
  firstImageUrl,
  htmlToDiscordMarkdown,
  plainTextToDiscordMarkdown,
  truncateHtml,
} from './html-to-markdown';
import type { FeedItem, ItemText } from './types';

/**
 * How much of an item's text becomes its summary. Announcements show a few hundred characters
 * and Discord allows 4,096; converting whole articles (dev.to puts ~20 KB in each description)
 * would cost time for nothing, and keeping them would cost memory while a fetch is handled.
 */
export const MAX_SUMMARY_SOURCE_CHARS = 8 * 1024;

/**
 * An item's text sources as {@link FeedItem.content} keeps them: in the order given (teaser before
 * full content), blank ones left out (they never yield a summary), each cut to
 * {@link MAX_SUMMARY_SOURCE_CHARS} (HTML before a tag, text between words).
 */
export function itemTexts(sources: readonly ItemText[]): ItemText[] {
  const texts: ItemText[] = [];
  for (const { text, type } of sources) {
    if (!text.trim()) continue;
    texts.push({
      text:
        type === 'html'
          ? truncateHtml(text, MAX_SUMMARY_SOURCE_CHARS)
          : truncateText(text, MAX_SUMMARY_SOURCE_CHARS),
      type,
    });
  }
  return texts;
}

/** The start of a text, at most `maxChars` long, cut between words. */
function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const head = text.slice(0, maxChars);
  return /\s/.test(text.charAt(maxChars)) ? head : head.replace(/\S+$/, '');
}

/**
 * Summaries already made, by the sources they were made from: every subscription to a feed renders
 * the same new item, and a summary should be converted once, not once per channel. Weak, so a
 * summary lives as long as its item.
 */
const made = new WeakMap<readonly ItemText[], { base: string | null; summary: string | null }>();

/**
 * An item's summary as Discord markdown, escaped so it cannot ping or hide text: the first of its
 * text sources that yields any text (callers list a teaser before the full content), or null.
 */
export function summaryOf(item: Pick<FeedItem, 'content' | 'contentBase'>): string | null {
  const cached = made.get(item.content);
  if (cached?.base === item.contentBase) return cached.summary;
  let summary: string | null = null;
  for (const { text, type } of item.content) {
    const markdown =
      type === 'html'
        ? htmlToDiscordMarkdown(text, { baseUrl: item.contentBase })
        : plainTextToDiscordMarkdown(text);
    if (markdown) {
      summary = markdown;
      break;
    }
  }
  made.set(item.content, { base: item.contentBase, summary });
  return summary;
}

/** Pictures already found, by the HTML they were found in (see {@link made}). */
const foundImages = new WeakMap<readonly string[], { base: string | null; image: string | null }>();

/**
 * An item's picture: the one its feed names, else the first in its HTML ({@link FeedItem.imageHtml}),
 * looked for on the first call; null when it has none.
 */
export function imageOf(item: Pick<FeedItem, 'image' | 'imageHtml' | 'contentBase'>): string | null {
  if (item.image !== null || item.imageHtml === undefined) return item.image;
  const cached = foundImages.get(item.imageHtml);
  if (cached?.base === item.contentBase) return cached.image;
  let image: string | null = null;
  for (const html of item.imageHtml) {
    image = firstImageUrl(html, item.contentBase);
    if (image !== null) break;
  }
  foundImages.set(item.imageHtml, { base: item.contentBase, image });
  return image;
}

/**
 * The start of an item's text as plain text, whitespace collapsed, cut between words to at most
 * `maxChars`; '' when it has none. Made from the first source with any text, like the summary, but
 * by stripping tags rather than converting: it is made for every item of every parsed fetch.
 */
export function textExcerpt(item: Pick<FeedItem, 'content'>, maxChars: number): string {
  for (const source of item.content) {
    const text = textStart(source, maxChars);
    if (text) return text;
  }
  return '';
}

function textStart({ text, type }: ItemText, maxChars: number): string {
  // Only the start is needed: read a prefix a little longer than that, and more only when markup
  // or whitespace left too little of it. A prefix's text is the start of the whole text.
  for (let size = maxChars * 2; ; size *= 4) {
    const whole = size >= text.length;
    const prefix = whole ? text : type === 'html' ? truncateHtml(text, size) : text.slice(0, size);
    const plain = (type === 'html' ? htmlText(prefix) : prefix).replace(WHITESPACE_RUN, ' ').trim();
    if (whole || plain.length > maxChars) return cutBetweenWords(plain, maxChars);
  }
}

/** Any whitespace but a lone space (replacing each space by itself would cost a lot). */
const WHITESPACE_RUN = /\s{2,}|[^\S ]/g;

/** Elements whose text is never shown (the summary drops them too); an unclosed one runs to the end. */
const HIDDEN_ELEMENT =
  /<(script|style|noscript|template|svg|table|video|audio|iframe|object|select|textarea|button|head)\b[\s\S]*?(?:<\/\1\s*>|$)|<!--[\s\S]*?(?:-->|$)/gi;

/** Tags that separate words; other tags (inline ones) join the text either side: `Caf<b>é</b>`. */
const WORD_BREAKING_TAG =
  /<\/?(?:address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|header|hr|img|li|main|nav|ol|p|pre|section|td|th|tr|ul)\b[^>]*>/gi;

const ANY_TAG = /<[/!?]?[A-Za-z][^>]*>/g;

/** The text of an HTML fragment, entities decoded; whitespace is left for the caller to collapse. */
function htmlText(html: string): string {
  if (!/[<&]/.test(html)) return html;
  return decodeHTML(html.replace(HIDDEN_ELEMENT, ' ').replace(WORD_BREAKING_TAG, ' ').replace(ANY_TAG, ''));
}

/** At most `maxChars` of a text, ending at a word's end when it has to be cut (mid-word only for one huge word). */
function cutBetweenWords(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const head = text.slice(0, maxChars);
  if (text.charAt(maxChars) === ' ') return head.trimEnd();
  // Whitespace is collapsed to single spaces by now; a /\S+$/ search would be quadratic in a long word.
  const lastSpace = head.lastIndexOf(' ');
  return lastSpace > 0 ? head.slice(0, lastSpace).trimEnd() : head;
}
