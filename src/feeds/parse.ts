/**
 * A response body → a normalized feed. XML goes through rss-parser 3.13's `parseString` (configured
 * around its known failure modes, see ../shared/notes/feeds-and-polling.md), JSON Feed through
 * json-feed.ts. Every failure comes out as {@link NotAFeedError} or {@link MalformedFeedError}.
 */
import Parser from 'rss-parser';
import { MalformedFeedError, NotAFeedError } from './errors';
import { looksLikeJson, parseJsonFeed } from './json-feed';
import { LIFTED_ELEMENTS, liftTexts, type LiftedDocument } from './lift-texts';
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

/** rss-parser's output as Herald asks for it: raw xml2js nodes under {@link RAW_PREFIX}. */
export type RawOutput = Record<string, unknown>;

/**
 * Elements rss-parser spends most of its own mapping time on, for fields Herald never reads: a
 * text snippet of every description and content (HTML stripped by regexes, entities decoded) and a
 * Date of every date. xml2js hands them over under another name, which rss-parser does not look
 * for; the raw fields below ask for them by that name, and normalize.ts reads every date once,
 * from the text. Hidden, an Atom entry's bad `<published>` or `<updated>` cannot reach rss-parser's
 * new Date().toISOString(), which throws and would reject the whole feed. No XML name contains
 * `#`, so a hidden name cannot meet an element's real one.
 */
const HIDDEN_NAMES: ReadonlyMap<string, string> = new Map(
  ['description', 'content', 'content:encoded', 'pubDate', 'dc:date', 'published', 'updated'].map((name) => [
    name,
    `#${name}`,
  ]),
);

function hiddenName(name: string): string {
  return HIDDEN_NAMES.get(name) ?? name;
}

/** A field requested raw (keepArray) under {@link RAW_PREFIX}, by the name xml2js gives it. */
function rawField(name: string): [string, string, { keepArray: true }] {
  return [hiddenName(name), RAW_PREFIX + name, { keepArray: true }];
}

// rss-parser's typings only allow plain names here, but it accepts [from, to, options] like for items.
const RAW_FEED_FIELDS = FEED_FIELDS.map(rawField) as unknown as string[];
const RAW_ITEM_FIELDS = ITEM_FIELDS.map(rawField);

/** Whitespace-only elements become '' rather than their whitespace: an element without text reads as empty. */
function emptyTag(): string {
  return '';
}

/**
 * rss-parser as Herald reads XML feeds, a new one per call: xml2js keeps per-parse state and
 * rss-parser mutates its options. Every field Herald reads is requested raw (keepArray) under
 * {@link RAW_PREFIX}, so normalize.ts sees the xml2js nodes with their attributes (Atom `term`,
 * `rel`, `xml:base`, enclosure types).
 */
export function createXmlParser(): Parser<RawOutput, RawOutput> {
  return new Parser<RawOutput, RawOutput>({
    // <rss> without a version attribute is RSS 2.0 in practice.
    defaultRSS: 2,
    xml2js: { emptyTag, tagNameProcessors: [hiddenName] },
    customFields: { feed: RAW_FEED_FIELDS, item: RAW_ITEM_FIELDS },
  });
}

async function parseXml(body: string, url: string, format: Exclude<FeedFormat, 'json'>): Promise<ParsedFeed> {
  const text = format === 'atom' ? atomLinksWithHref(xhtmlToHtml(body)) : body;
  let output: RawOutput;
  try {
    output = await readFeedXml(text);
  } catch (error) {
    const repaired = isEntityError(error) ? escapeBareAmpersands(text) : null;
    if (repaired === null || repaired === text) throw toFeedError(error, url, format);
    // A bare `&` (as in "Q&A") is the most common authoring slip; read it as the `&amp;` meant.
    try {
      output = await createXmlParser().parseString(repaired);
    } catch {
      throw toFeedError(error, url, format);
    }
  }
  return normalizeXmlFeed(output, { url, format });
}

/**
 * rss-parser's output for an XML document, read with its long texts lifted out (see lift-texts.ts)
 * and put back into the raw fields normalize.ts reads. A document that fails is read again as it
 * is, so that errors, their positions and the repair of bare ampersands are what they were.
 */
export async function readFeedXml(text: string): Promise<RawOutput> {
  const lifted = liftTexts(text);
  if (lifted === null) return createXmlParser().parseString(text);
  let output: RawOutput;
  try {
    output = await createXmlParser().parseString(lifted.xml);
  } catch {
    return createXmlParser().parseString(text);
  }
  putBackLifted(output, lifted);
  const items = output.items;
  if (Array.isArray(items)) for (const item of items) putBackLifted(item, lifted);
  return output;
}

/** The raw fields that can hold a lifted text, as rss-parser hands them over. */
const LIFTED_FIELDS = LIFTED_ELEMENTS.map((name) => RAW_PREFIX + name);

/** Puts lifted texts back into a feed's or an item's raw fields: nodes are strings or `{ _, $ }`. */
function putBackLifted(record: unknown, lifted: LiftedDocument): void {
  if (typeof record !== 'object' || record === null) return;
  for (const field of LIFTED_FIELDS) {
    const nodes = (record as Record<string, unknown>)[field];
    if (!Array.isArray(nodes)) continue;
    nodes.forEach((node: unknown, index) => {
      if (typeof node === 'string') nodes[index] = lifted.textOf(node);
      else if (typeof node === 'object' && node !== null && '_' in node && typeof node._ === 'string')
        node._ = lifted.textOf(node._);
    });
  }
}

/**
 * Rewrites Atom `type="xhtml"` text constructs as `type="html"` with the markup escaped. xml2js
 * keeps no order between text and child elements, so `An <em>emphasized</em> title` would come
 * out as "An title emphasized"; as escaped HTML it reaches the HTML converter intact. Only
 * characters within lines change, so error positions stay right.
 */
function xhtmlToHtml(text: string): string {
  // Looking for the word first costs a fifth of the pattern on a feed without it, as most are.
  if (!text.includes('xhtml') || !/type\s*=\s*["']xhtml["']/.test(text)) return text;
  return text.replace(
    /<(title|subtitle|summary|content|rights)(\s[^>]*?)\btype\s*=\s*(["'])xhtml\3([^>]*)>([\s\S]*?)<\/\1\s*>/g,
    (_match, name: string, before: string, _quote: string, after: string, inner: string) =>
      `<${name}${before}type="html"${after}>${inner.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</${name}>`,
  );
}

/**
 * Rewrites Atom `<link>url</link>` (and an empty `<link/>`) as `<link href="url"/>`. rss-parser reads
 * the `href` of every `<link>` of the feed and its entries without checking, so a link element
 * without attributes would crash it; and the URL is meant as the link either way. Only `link`
 * without a prefix or attributes and with nothing but text inside is changed (the elements xml2js
 * makes a bare string of), never inside CDATA or comments; deeper ones too, which nothing reads as
 * links. This replaces an xml2js `validator`, which costs an XPath string per element. Line breaks
 * stay as they are (attribute values keep them), so error positions stay right.
 */
function atomLinksWithHref(text: string): string {
  if (!/<link\s*[/>]/.test(text)) return text;
  return text.replace(
    /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<link\s*(?:\/>|>((?:[^<]|<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>)*)<\/link\s*>)/g,
    (match, inner: string | undefined) =>
      match.startsWith('<!') ? match : `<link href="${attributeValue(inner ?? '')}"/>`,
  );
}

/** Element content (text, entities, CDATA, comments) as the text it stands for, in a double-quoted attribute. */
function attributeValue(content: string): string {
  const parts = content.split(/(<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->)/);
  const hasCdata = parts.some((part, index) => index % 2 === 1 && part.startsWith('<![CDATA['));
  // Like xml2js: an element whose text is only whitespace, outside CDATA, has no text.
  if (!hasCdata && !/\S/.test(parts.filter((_part, index) => index % 2 === 0).join(''))) return '';
  return parts
    .map((part, index) => {
      if (index % 2 === 0) return part.replace(/"/g, '&quot;');
      if (part.startsWith('<!--')) return '';
      return part
        .slice('<![CDATA['.length, -']]>'.length)
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/"/g, '&quot;');
    })
    .join('');
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
