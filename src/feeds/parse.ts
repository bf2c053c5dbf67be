/**
 * A response body → a normalized feed. XML goes through rss-parser 3.13's `parseString` (configured
 * around its known failure modes, see ../shared/notes/feeds-and-polling.md), JSON Feed through
 * json-feed.ts. Every failure comes out as {@link NotAFeedError} or {@link MalformedFeedError}.
 */
import Parser from 'rss-parser';
import { parseFeedDate } from './dates';
import { MalformedFeedError, NotAFeedError } from './errors';
import { looksLikeJson, parseJsonFeed } from './json-feed';
import { finishFeed, normalizeXmlFeed, RAW_PREFIX } from './normalize';
import type { FeedFormat, ParsedFeed } from './types';

/** What {@link parseFeed} needs besides the body. */
export interface ParseOptions {
  /** The feed's URL, used to resolve relative links and named in errors. */
  url: string;
  /** The response's Content-Type, when known. */
  contentType?: string | null;
}

/**
 * Parses an RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 0.3/1.0 or JSON Feed 1.0/1.1 body into a feed and its
 * items in document order. Throws only {@link NotAFeedError} (empty body, plain text, an HTML page,
 * other XML or JSON) and {@link MalformedFeedError} (a feed that cannot be parsed).
 */
export async function parseFeed(body: string, options: ParseOptions): Promise<ParsedFeed> {
  try {
    return await parseBody(body, options);
  } catch (error) {
    if (error instanceof NotAFeedError || error instanceof MalformedFeedError) throw error;
    // A failure of our own reading is still reported as the typed error callers branch on.
    throw new MalformedFeedError(options.url, 'the feed has an unexpected structure', null, null, {
      cause: error,
    });
  }
}

async function parseBody(body: string, options: ParseOptions): Promise<ParsedFeed> {
  const { url } = options;
  const text = body.replace(/^\uFEFF/, '');
  if (!text.trim()) throw new NotAFeedError(url, 'the response is empty');

  if (looksLikeJson(text) || (isJsonType(options.contentType) && !text.trimStart().startsWith('<'))) {
    return finishFeed(parseJsonFeed(text, url));
  }

  const root = rootElement(text);
  if (looksLikeHtmlPage(text, options.contentType ?? null))
    throw new NotAFeedError(url, 'it is an HTML page');
  if (root === null) {
    // No element at all: a text body, or XML cut off before its first tag.
    // A feed behind a stray line (a PHP warning) is broken, not absent: let the parser say where.
    const buried = /<(rss|feed|rdf:RDF)[\s>]/.exec(text.slice(0, 4096))?.[1];
    if (buried) return parseXml(text, url, feedFormatOf(buried) ?? 'rss');
    if (!text.trimStart().startsWith('<'))
      throw new NotAFeedError(url, 'the response is plain text, not XML or JSON');
    return parseXml(text, url, 'rss');
  }
  const format = feedFormatOf(root);
  if (format === undefined) throw new NotAFeedError(url, `it is XML whose root element is <${root}>`);
  return parseXml(text, url, format);
}

/**
 * Whether a body is a web page rather than a feed: its first element is `<html>` (or another
 * element only pages start with), or the server calls it HTML and it does not start like a feed.
 * Discovery uses this to look for `<link rel="alternate">` in it.
 */
export function looksLikeHtmlPage(body: string, contentType: string | null): boolean {
  const text = body.replace(/^\uFEFF/, '');
  if (/^\s*(?:<!--[\s\S]*?-->\s*)*<!doctype\s+html\b/i.test(text)) return true;
  const root = rootElement(text);
  if (root !== null && feedFormatOf(root) !== undefined) return false;
  if (root !== null && PAGE_ROOTS.has(root.toLowerCase())) return true;
  if (looksLikeJson(text)) return false;
  return /^\s*(?:text\/html|application\/xhtml\+xml)\b/i.test(contentType ?? '');
}

const FEED_ROOTS: Readonly<Record<string, Exclude<FeedFormat, 'json'>>> = {
  rss: 'rss',
  feed: 'atom',
  'rdf:RDF': 'rdf',
};

function feedFormatOf(root: string): Exclude<FeedFormat, 'json'> | undefined {
  return Object.hasOwn(FEED_ROOTS, root) ? FEED_ROOTS[root] : undefined;
}

const PAGE_ROOTS = new Set(['html', 'head', 'body', 'meta', 'title', 'link', 'script', 'style', 'div', 'p']);

/** The name of the first element, past the XML declaration, comments, processing instructions and DOCTYPE. */
function rootElement(text: string): string | null {
  const match =
    /^\s*(?:(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE(?:[^[>]|\[[\s\S]*?\])*>)\s*)*<([A-Za-z_][\w.:-]*)/i.exec(
      text,
    );
  return match?.[1] ?? null;
}

function isJsonType(contentType: string | null | undefined): boolean {
  return /^\s*application\/(?:feed\+)?json\b/i.test(contentType ?? '');
}

// ---------------------------------------------------------------------------------------------
// XML

/** Date elements of RSS, RDF (Dublin Core) and Atom 0.3/1.0. */
const DATE_ELEMENTS = new Set([
  'pubDate',
  'lastBuildDate',
  'published',
  'updated',
  'issued',
  'modified',
  'created',
  'dc:date',
  'dcterms:issued',
  'dcterms:modified',
  'dcterms:created',
]);

const ITEM_FIELDS = [
  'title',
  'link',
  'guid',
  'id',
  'pubDate',
  'published',
  'updated',
  'issued',
  'modified',
  'created',
  'dc:date',
  'author',
  'dc:creator',
  'itunes:author',
  'category',
  'dc:subject',
  'description',
  'summary',
  'content',
  'content:encoded',
  'enclosure',
  'media:content',
  'media:thumbnail',
  'media:group',
  'itunes:image',
  '$',
];

const FEED_FIELDS = [
  'title',
  'link',
  'description',
  'subtitle',
  'tagline',
  'author',
  'dc:creator',
  'itunes:author',
  'managingEditor',
  'ttl',
  '$',
];

type RawOutput = Record<string, unknown>;

/**
 * A parser per call: xml2js keeps per-parse state and rss-parser mutates its options. Every field
 * Herald reads is requested raw (keepArray) under {@link RAW_PREFIX}, so normalize.ts sees the
 * xml2js nodes with their attributes (Atom `term`, `rel`, `xml:base`, enclosure types).
 */
function createParser(): Parser<RawOutput, RawOutput> {
  const raw = (name: string) => [name, RAW_PREFIX + name, { keepArray: true }];
  return new Parser<RawOutput, RawOutput>({
    // <rss> without a version attribute is RSS 2.0 in practice.
    defaultRSS: 2,
    xml2js: {
      // Whitespace-only elements become '' rather than '  ', which rss-parser would hand to new Date().
      emptyTag: () => '',
      // rss-parser runs Atom dates through new Date().toISOString(), which throws on one bad date and
      // rejects the whole feed: hand it our own reading (ISO, or '' which it skips).
      valueProcessors: [
        (value: string, name: string) => (DATE_ELEMENTS.has(name) ? (parseFeedDate(value) ?? '') : value),
      ],
      // rss-parser reads Atom `<link>` attributes without checking; `<link>url</link>` would crash it.
      validator: (xpath: string, _current: unknown, value: unknown) =>
        typeof value === 'string' && /^\/feed(?:\/entry)?\/link$/.test(xpath)
          ? { $: { href: value } }
          : value,
    },
    customFields: {
      // rss-parser's typings only allow plain names here, but it accepts [from, to, options] like for items.
      feed: FEED_FIELDS.map(raw) as unknown as string[],
      item: ITEM_FIELDS.map(raw),
    },
  });
}

async function parseXml(body: string, url: string, format: Exclude<FeedFormat, 'json'>): Promise<ParsedFeed> {
  const text = format === 'atom' ? xhtmlToHtml(body) : body;
  let output: RawOutput;
  try {
    output = await createParser().parseString(text);
  } catch (error) {
    const repaired = isEntityError(error) ? escapeBareAmpersands(text) : null;
    if (repaired === null || repaired === text) throw toFeedError(error, url, format);
    // A bare `&` (as in "Q&A") is the most common authoring slip; read it as the `&amp;` meant.
    try {
      output = await createParser().parseString(repaired);
    } catch {
      throw toFeedError(error, url, format);
    }
  }
  return normalizeXmlFeed(output, { url, format });
}

/**
 * Rewrites Atom `type="xhtml"` text constructs as `type="html"` with the markup escaped. xml2js
 * keeps no order between text and child elements, so `An <em>emphasized</em> title` would come
 * out as "An title emphasized"; as escaped HTML it reaches the HTML converter intact. Only
 * characters within lines change, so error positions stay right.
 */
function xhtmlToHtml(text: string): string {
  if (!/type\s*=\s*["']xhtml["']/.test(text)) return text;
  return text.replace(
    /<(title|subtitle|summary|content|rights)(\s[^>]*?)\btype\s*=\s*(["'])xhtml\3([^>]*)>([\s\S]*?)<\/\1\s*>/g,
    (_match, name: string, before: string, _quote: string, after: string, inner: string) =>
      `<${name}${before}type="html"${after}>${inner.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</${name}>`,
  );
}

function isEntityError(error: unknown): boolean {
  return error instanceof Error && /entity/i.test(error.message);
}

/** Escapes each `&` that starts no entity, outside CDATA sections and comments where `&` is literal. */
function escapeBareAmpersands(text: string): string {
  return text
    .split(/(<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->)/)
    .map((part, index) =>
      index % 2 === 1 ? part : part.replace(/&(?!#\d+;|#x[0-9a-f]+;|[a-z][\w.-]*;)/gi, '&amp;'),
    )
    .join('');
}

function toFeedError(error: unknown, url: string, format: Exclude<FeedFormat, 'json'>): MalformedFeedError {
  const message = error instanceof Error ? error.message : String(error);
  // sax: "Invalid character in entity name\nLine: 2\nColumn: 20\nChar: ". Its lines count from 0.
  const position = /\nLine: (\d+)\nColumn: (\d+)/.exec(message);
  const line = position?.[1] !== undefined ? Number(position[1]) + 1 : null;
  const column = position?.[2] !== undefined ? Number(position[2]) : null;
  let detail: string;
  if (error instanceof TypeError) {
    detail =
      format === 'atom'
        ? 'the feed has an unexpected structure'
        : `the <${format === 'rdf' ? 'rdf:RDF' : 'rss'}> element has no <channel>`;
  } else {
    const first = (message.split('\n')[0] ?? '').trim();
    detail = /entity/i.test(first)
      ? `${lowerFirst(first)} (an "&" that is not written as "&amp;"?)`
      : /unclosed|unexpected end/i.test(first)
        ? `${lowerFirst(first)} (the document stops early)`
        : lowerFirst(first) || 'unreadable XML';
  }
  return new MalformedFeedError(url, detail, line, column, { cause: error });
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1).replace(/\.$/, '');
}
