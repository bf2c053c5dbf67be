/**
 * JSON Feed 1.0 and 1.1 (https://jsonfeed.org), mapped by hand because rss-parser knows only XML.
 * The shape is checked with zod, leniently: a field of the wrong type counts as missing, so one
 * odd item cannot reject a whole feed.
 */
import { z } from 'zod';
import { parseFeedDate } from './dates';
import { MalformedFeedError, NotAFeedError } from './errors';
import { absoluteHttpUrl } from './html-to-markdown';
import type { ItemDraft } from './identity';
import { collapseWhitespace, type FeedDraft } from './normalize';
import { itemTexts } from './summary';
import { urlHost } from './url-host';

const JSON_FEED_VERSION = /^https?:\/\/jsonfeed\.org\/version\//i;

const text = z.string().optional().catch(undefined);
const author = z.object({ name: text, url: text }).optional().catch(undefined);
const list = z.array(z.unknown()).optional().catch(undefined);

const attachmentSchema = z.object({ url: text, mime_type: text });

const itemSchema = z.object({
  id: z.union([z.string(), z.number()]).optional().catch(undefined),
  url: text,
  external_url: text,
  title: text,
  content_html: text,
  content_text: text,
  summary: text,
  date_published: text,
  date_modified: text,
  author,
  authors: list,
  tags: list,
  image: text,
  banner_image: text,
  attachments: list,
});

const feedSchema = z.object({
  version: z.string().regex(JSON_FEED_VERSION),
  title: text,
  home_page_url: text,
  description: text,
  author,
  authors: list,
  items: z.array(z.unknown()),
});

type JsonItem = z.infer<typeof itemSchema>;

/** The beginning of a JSON body: the caller tries {@link parseJsonFeed} on such bodies. */
export function looksLikeJson(body: string): boolean {
  return /^\s*[[{]/.test(body);
}

/**
 * Parses a JSON Feed body into a draft feed. Throws {@link MalformedFeedError} for broken JSON (with
 * its line and column) or a JSON Feed without an `items` array, and {@link NotAFeedError} for JSON
 * that is not a JSON Feed.
 */
export function parseJsonFeed(body: string, url: string): FeedDraft {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (error) {
    // V8 names the position only for some errors ("Unexpected token" has none on Node 20): find it ourselves.
    const problem = locateJsonError(body);
    const { line, column } = lineAndColumn(body, problem.offset);
    throw new MalformedFeedError(url, `invalid JSON: ${problem.reason}`, line, column, { cause: error });
  }

  const record =
    typeof data === 'object' && data !== null && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : null;
  if (!record || typeof record.version !== 'string' || !JSON_FEED_VERSION.test(record.version)) {
    throw new NotAFeedError(url, 'it is JSON, but not a JSON Feed');
  }
  const parsed = feedSchema.safeParse(record);
  if (!parsed.success) {
    throw new MalformedFeedError(url, 'the JSON Feed has no "items" array', null, null, {
      cause: parsed.error,
    });
  }
  const feedJson = parsed.data;
  const base = absoluteHttpUrl(url, null);
  const link = absoluteHttpUrl(feedJson.home_page_url, base);
  const feedAuthor = authorName(feedJson.authors, feedJson.author);

  const feed = {
    url,
    title: collapseWhitespace(feedJson.title ?? '') || urlHost(url) || urlHost(link) || url,
    link,
    format: 'json' as const,
    description: collapseWhitespace(feedJson.description ?? '') || null,
    author: feedAuthor,
    ttlSeconds: null,
  };

  const items: ItemDraft[] = [];
  for (const raw of feedJson.items) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const item = itemSchema.safeParse(raw);
    if (item.success) items.push(draftItem(item.data, base, feedAuthor));
  }
  return { feed, items };
}

function draftItem(item: JsonItem, base: string | null, feedAuthor: string | null): ItemDraft {
  const link = absoluteHttpUrl(item.url, base) ?? absoluteHttpUrl(item.external_url, base);
  const contentBase = link ?? base;
  const guid = item.id === undefined ? null : String(item.id).trim() || null;
  const html = item.content_html ?? '';
  // `summary` is plain text by the spec and, being the teaser, comes first.
  const content = itemTexts([
    { text: item.summary ?? '', type: 'text' },
    { text: html, type: 'html' },
    { text: item.content_text ?? '', type: 'text' },
  ]);
  return {
    guid,
    // JSON Feed titles are plain text by the spec: shown as written, never read as HTML.
    title: collapseWhitespace(item.title ?? '') || null,
    link,
    published: parseFeedDate(item.date_published) ?? parseFeedDate(item.date_modified),
    author: authorName(item.authors, item.author) ?? feedAuthor,
    categories: tags(item.tags),
    content,
    contentBase,
    image:
      absoluteHttpUrl(item.image, contentBase) ??
      absoluteHttpUrl(item.banner_image, contentBase) ??
      attachmentImage(item.attachments, contentBase),
    imageHtml: [html],
  };
}

/** JSON Feed 1.1 `authors[0].name`, else 1.0 `author.name`. */
function authorName(
  authors: unknown[] | undefined,
  single: { name?: string | undefined } | undefined,
): string | null {
  for (const candidate of authors ?? []) {
    const parsed = z.object({ name: text }).safeParse(candidate);
    const name = parsed.success ? collapseWhitespace(parsed.data.name ?? '') : '';
    if (name) return name;
  }
  return collapseWhitespace(single?.name ?? '') || null;
}

function tags(values: unknown[] | undefined): string[] {
  const result: string[] = [];
  for (const value of values ?? []) {
    const tag = typeof value === 'string' ? collapseWhitespace(value) : '';
    if (tag && !result.includes(tag)) result.push(tag);
  }
  return result;
}

function attachmentImage(attachments: unknown[] | undefined, base: string | null): string | null {
  for (const raw of attachments ?? []) {
    const parsed = attachmentSchema.safeParse(raw);
    if (!parsed.success || !parsed.data.mime_type?.toLowerCase().startsWith('image/')) continue;
    const url = absoluteHttpUrl(parsed.data.url, base);
    if (url) return url;
  }
  return null;
}

interface JsonProblem {
  offset: number;
  reason: string;
}

/** Thrown inside {@link locateJsonError} to unwind its recursion at the first problem. */
class JsonSyntaxProblem extends Error {
  constructor(readonly problem: JsonProblem) {
    super(problem.reason);
  }
}

/**
 * The offset and nature of the first syntax error in a text JSON.parse rejected: a minimal
 * recursive-descent scan, run only on failure.
 */
function locateJsonError(text: string): JsonProblem {
  let i = 0;
  const fail = (reason: string): never => {
    throw new JsonSyntaxProblem({ offset: i, reason });
  };
  const describe = (): string =>
    i >= text.length ? 'the document stops early' : `unexpected ${JSON.stringify(text[i])}`;
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(describe());
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i++;
        return;
      }
      if (ch < 0x20) fail('a control character inside a string');
      if (ch === 0x5c) {
        const next = text[i + 1] ?? '';
        if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (next && '"\\/bfnrt'.includes(next)) i += 2;
        else {
          i++;
          fail('an invalid escape in a string');
        }
      } else i++;
    }
    fail('the document stops early (an unterminated string)');
  };
  const number = () => {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!match) fail(describe());
    else i += match[0].length;
  };
  const value = (depth: number): void => {
    if (depth > 500) fail('nesting too deep');
    skipSpace();
    const ch = text[i];
    if (ch === '{') {
      i++;
      skipSpace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[i] !== '"')
          fail(i >= text.length ? describe() : `expected a property name, found ${JSON.stringify(text[i])}`);
        string();
        skipSpace();
        if (text[i] !== ':')
          fail(i >= text.length ? describe() : `expected ":", found ${JSON.stringify(text[i])}`);
        i++;
        value(depth + 1);
        skipSpace();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail(i >= text.length ? describe() : `expected "," or "}", found ${JSON.stringify(text[i])}`);
      }
    }
    if (ch === '[') {
      i++;
      skipSpace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        skipSpace();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail(i >= text.length ? describe() : `expected "," or "]", found ${JSON.stringify(text[i])}`);
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return number();
    fail(describe());
  };
  try {
    value(0);
    skipSpace();
    if (i < text.length) fail(`unexpected ${JSON.stringify(text[i])} after the end of the document`);
  } catch (error) {
    if (error instanceof JsonSyntaxProblem) return error.problem;
    throw error;
  }
  // JSON.parse disagreed with this scan (it should not): point at the start rather than guess.
  return { offset: 0, reason: 'unreadable' };
}

function lineAndColumn(body: string, offset: number): { line: number; column: number } {
  const before = body.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}
