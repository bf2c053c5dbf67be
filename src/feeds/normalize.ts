/**
 * rss-parser output → {@link Feed} and {@link FeedItem}. Reads the raw xml2js nodes requested as
 * custom fields (see parse.ts) rather than rss-parser's own mapping, which drops Atom category
 * terms, media images and xml:base, and returns objects where callers expect strings.
 */
import { parseFeedDate } from './dates';
import { absoluteHttpUrl, htmlToPlainText } from './html-to-markdown';
import { assignIdentities, type ItemDraft } from './identity';
import { itemTexts } from './summary';
import type { Feed, FeedFormat, ItemText, ParsedFeed } from './types';
import { urlHost } from './url-host';

/** Prefix of the custom fields parse.ts asks rss-parser for, so they never clash with its own. */
export const RAW_PREFIX = 'x_';

/** A feed's metadata and items before identity keys are assigned. */
export interface FeedDraft {
  feed: Feed;
  items: ItemDraft[];
}

/** What {@link normalizeXmlFeed} needs besides the parser output. */
export interface NormalizeContext {
  /** The feed's URL: the last resort for resolving relative links. */
  url: string;
  format: Exclude<FeedFormat, 'json'>;
}

type RawNode = unknown;
type RawRecord = Record<string, unknown>;

/** Turns rss-parser output (with parse.ts's custom fields) into a normalized feed with identities. */
export function normalizeXmlFeed(output: unknown, context: NormalizeContext): ParsedFeed {
  return finishFeed(draftXmlFeed(output, context));
}

/** Assigns identity keys to a draft, keeping items in document order. */
export function finishFeed(draft: FeedDraft): ParsedFeed {
  return { feed: draft.feed, items: assignIdentities(draft.items) };
}

function draftXmlFeed(output: unknown, { url, format }: NormalizeContext): FeedDraft {
  const root = asRecord(output) ?? {};
  const urlBase = baseOf(url);
  const feedXmlBase = resolveBase(ownAttribute(root, 'xml:base'), urlBase);
  const feedBase = feedXmlBase ?? urlBase;

  const title =
    format === 'atom'
      ? atomText(rawField(root, 'title')[0])
      : htmlToPlainText(nodeText(rawField(root, 'title')[0]) ?? '');
  const link =
    format === 'atom'
      ? absoluteHttpUrl(atomLink(rawField(root, 'link')), feedBase)
      : absoluteHttpUrl(firstText(rawField(root, 'link')), feedBase);
  const description =
    format === 'atom'
      ? atomText(rawField(root, 'subtitle')[0]) || atomText(rawField(root, 'tagline')[0])
      : htmlToPlainText(nodeText(rawField(root, 'description')[0]) ?? '');
  const author =
    format === 'atom'
      ? atomAuthor(rawField(root, 'author'))
      : firstNonEmpty(
          firstText(rawField(root, 'dc:creator')),
          firstText(rawField(root, 'itunes:author')),
          personName(firstText(rawField(root, 'managingEditor'))),
        );

  const feed: Feed = {
    url,
    title: title || urlHost(url) || urlHost(link) || url,
    link,
    format,
    description: description || null,
    author,
    ttlSeconds: ttlSeconds(firstText(rawField(root, 'ttl'))),
  };

  const bases: Bases = { url: urlBase, xml: feedXmlBase };
  const rawItems = Array.isArray(root.items) ? (root.items as unknown[]) : [];
  const items = rawItems.map((raw) =>
    format === 'atom' ? draftAtomEntry(raw, feed, bases) : draftRssItem(raw, feed, bases, format),
  );
  return { feed, items };
}

/**
 * Where relative URLs resolve: links against xml:base, else the feed URL; URLs inside the content
 * against xml:base, else the item's own link (content is written relative to its page), else the feed URL.
 */
interface Bases {
  url: string | null;
  xml: string | null;
}

function itemBases(item: RawRecord, bases: Bases): { xml: string | null; link: string | null } {
  const xml = resolveBase(ownAttribute(item, 'xml:base'), bases.xml ?? bases.url) ?? bases.xml;
  return { xml, link: xml ?? bases.url };
}

function draftRssItem(raw: unknown, feed: Feed, bases: Bases, format: 'rss' | 'rdf'): ItemDraft {
  const item = asRecord(raw) ?? {};
  const { xml, link: base } = itemBases(item, bases);

  const guidNode = rawField(item, 'guid')[0];
  const about = ownAttribute(item, 'rdf:about');
  const guid = nodeText(guidNode)?.trim() || (format === 'rdf' ? about?.trim() || null : null);
  // RSS: a guid is a permalink unless isPermaLink="false", so it stands in for a missing <link>,
  // but only when it really is an absolute URL (many feeds leave the attribute off opaque ids).
  const guidIsLink = attributeOf(guidNode, 'isPermaLink')?.trim().toLowerCase() !== 'false';
  const link =
    absoluteHttpUrl(firstText(rawField(item, 'link')), base) ??
    (guidIsLink ? absoluteHttpUrl(guid, null) : null) ??
    (format === 'rdf' ? absoluteHttpUrl(about, null) : null);
  const contentBase = xml ?? link ?? bases.url;

  const description = nodeText(rawField(item, 'description')[0]) ?? '';
  const content = nodeText(rawField(item, 'content:encoded')[0]) ?? '';

  return {
    guid,
    title: htmlToPlainText(nodeText(rawField(item, 'title')[0]) ?? '') || null,
    link,
    published: firstDate(rawField(item, 'pubDate'), rawField(item, 'dc:date')),
    author:
      firstNonEmpty(
        firstText(rawField(item, 'dc:creator')),
        personName(firstText(rawField(item, 'author'))),
        firstText(rawField(item, 'itunes:author')),
      ) ?? feed.author,
    categories: categories([...rawField(item, 'category'), ...rawField(item, 'dc:subject')]),
    content: itemTexts([
      { text: description, type: 'html' },
      { text: content, type: 'html' },
    ]),
    contentBase,
    image:
      enclosureImage(
        rawField(item, 'enclosure').map((node) => attributeOf(node, 'url')),
        rawField(item, 'enclosure'),
        contentBase,
      ) ?? mediaImage(item, contentBase),
    imageHtml: [content, description],
  };
}

function draftAtomEntry(raw: unknown, feed: Feed, bases: Bases): ItemDraft {
  const entry = asRecord(raw) ?? {};
  const { xml, link: base } = itemBases(entry, bases);
  const links = rawField(entry, 'link');
  const link = absoluteHttpUrl(atomLink(links), base);
  const contentBase = xml ?? link ?? bases.url;

  const summary = atomContent(rawField(entry, 'summary')[0]);
  const content = atomContent(rawField(entry, 'content')[0]);
  const enclosures = links.filter((node) => attributeOf(node, 'rel') === 'enclosure');

  return {
    guid: nodeText(rawField(entry, 'id')[0])?.trim() || null,
    title: atomText(rawField(entry, 'title')[0]) || null,
    link,
    published: firstDate(
      rawField(entry, 'published'),
      rawField(entry, 'updated'),
      rawField(entry, 'issued'),
      rawField(entry, 'modified'),
      rawField(entry, 'created'),
    ),
    author: atomAuthor(rawField(entry, 'author')) ?? firstText(rawField(entry, 'dc:creator')) ?? feed.author,
    categories: categories(rawField(entry, 'category')),
    content: itemTexts([summary, content]),
    contentBase,
    image:
      enclosureImage(
        enclosures.map((node) => attributeOf(node, 'href')),
        enclosures,
        contentBase,
      ) ?? mediaImage(entry, contentBase),
    imageHtml: [htmlOf(content), htmlOf(summary)],
  };
}

// ---------------------------------------------------------------------------------------------
// Text constructs

/**
 * An Atom text construct as HTML or plain text (Atom's default). xhtml is rewritten to html by
 * parse.ts; any that escapes the rewrite arrives as parsed XML, of which only the text is kept.
 */
function atomContent(node: RawNode): ItemText {
  const type = (attributeOf(node, 'type') ?? 'text').toLowerCase();
  const mode = (attributeOf(node, 'mode') ?? '').toLowerCase();
  if (type === 'xhtml' || type === 'application/xhtml+xml')
    return { text: nodeText(node) ?? '', type: 'text' };
  // Atom 0.3 marks escaped HTML with mode="escaped"; Atom 1.0 with type="html".
  if (type === 'html' || type === 'text/html' || mode === 'escaped')
    return { text: nodeText(node) ?? '', type: 'html' };
  return { text: nodeText(node) ?? '', type: 'text' };
}

/** The HTML of a text construct, or '' when it is plain text. */
function htmlOf(construct: ItemText): string {
  return construct.type === 'html' ? construct.text : '';
}

function atomText(node: RawNode): string {
  const { text, type } = atomContent(node);
  return type === 'html' ? htmlToPlainText(text) : collapseWhitespace(text);
}

// ---------------------------------------------------------------------------------------------
// Links, people, categories, dates

/** The entry's page: `rel="alternate"` (or no rel), preferring an HTML type. */
function atomLink(links: readonly RawNode[]): string | null {
  const alternates = links.filter((node) => {
    const rel = attributeOf(node, 'rel');
    return rel === undefined || rel === '' || rel === 'alternate';
  });
  const html = alternates.find((node) => /html/i.test(attributeOf(node, 'type') ?? 'text/html'));
  return attributeOf(html ?? alternates[0], 'href') ?? null;
}

function atomAuthor(authors: readonly RawNode[]): string | null {
  for (const author of authors) {
    const record = asRecord(author);
    const name = record ? firstText(asArray(record.name)) : null;
    if (name) return name;
    // A bare `<author>Name</author>` is invalid Atom but common.
    const bare = typeof author === 'string' ? collapseWhitespace(author) : '';
    if (bare) return bare;
  }
  return null;
}

/** RSS `<author>` is "email (Name)"; the name is what people recognize. */
function personName(value: string | null): string | null {
  if (!value) return null;
  const match = /^\S+@\S+\s*\((.+)\)$/.exec(value);
  return match?.[1] ? collapseWhitespace(match[1]) : value;
}

function categories(nodes: readonly RawNode[]): string[] {
  const result: string[] = [];
  for (const node of nodes) {
    const value = collapseWhitespace(attributeOf(node, 'term') ?? nodeText(node) ?? '');
    if (value && !result.includes(value)) result.push(value);
  }
  return result;
}

function firstDate(...candidates: RawNode[][]): string | null {
  for (const nodes of candidates) {
    for (const node of nodes) {
      const date = parseFeedDate(nodeText(node));
      if (date) return date;
    }
  }
  return null;
}

function ttlSeconds(value: string | null): number | null {
  if (!value || !/^\d+$/.test(value.trim())) return null;
  const minutes = Number.parseInt(value, 10);
  return minutes > 0 ? minutes * 60 : null;
}

// ---------------------------------------------------------------------------------------------
// Images

const IMAGE_EXTENSION = /\.(?:jpe?g|png|gif|webp|avif|bmp|svg)$/i;

/** A picture by its medium, its MIME type, or failing those its file extension (types are often wrong). */
function looksLikeImage(url: string, type: string | undefined, medium?: string): boolean {
  if (medium?.toLowerCase() === 'image' || type?.toLowerCase().startsWith('image/')) return true;
  if (medium) return false;
  try {
    return IMAGE_EXTENSION.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/** The first enclosure that is a picture, by its type or its file extension. */
function enclosureImage(
  urls: readonly (string | undefined)[],
  nodes: readonly RawNode[],
  base: string | null,
): string | null {
  for (const [index, raw] of urls.entries()) {
    const url = absoluteHttpUrl(raw, base);
    if (url && looksLikeImage(url, attributeOf(nodes[index], 'type') || undefined)) return url;
  }
  return null;
}

/** media:content (images only), media:thumbnail, the same inside media:group, then itunes:image. */
function mediaImage(item: RawRecord, base: string | null): string | null {
  const groups = rawField(item, 'media:group').map((group) => asRecord(group) ?? {});
  const contents = [
    ...rawField(item, 'media:content'),
    ...groups.flatMap((group) => asArray(group['media:content'])),
  ];
  for (const node of contents) {
    const url = absoluteHttpUrl(attributeOf(node, 'url'), base);
    if (
      url &&
      looksLikeImage(url, attributeOf(node, 'type') || undefined, attributeOf(node, 'medium') || undefined)
    ) {
      return url;
    }
  }
  const thumbnails = [
    ...rawField(item, 'media:thumbnail'),
    ...groups.flatMap((group) => asArray(group['media:thumbnail'])),
  ];
  for (const node of thumbnails) {
    const url = absoluteHttpUrl(attributeOf(node, 'url'), base);
    if (url) return url;
  }
  for (const node of rawField(item, 'itunes:image')) {
    const url = absoluteHttpUrl(attributeOf(node, 'href') ?? nodeText(node), base);
    if (url) return url;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// xml2js node helpers: a node is a string, or an object with `_` (text), `$` (attributes) and
// child arrays; repeated elements are arrays.

/**
 * The nodes of a field parse.ts requested raw. A plain function rather than a closure per item:
 * tsx names every closure it creates (`__name`), which costs more than the lookup.
 */
function rawField(record: RawRecord, name: string): RawNode[] {
  return asArray(record[rawKey(name)]);
}

const rawKeys = new Map<string, string>();

/** `x_<name>`, made once per name: a key built anew for every lookup costs more than the lookup. */
function rawKey(name: string): string {
  let key = rawKeys.get(name);
  if (key === undefined) {
    key = RAW_PREFIX + name;
    rawKeys.set(name, key);
  }
  return key;
}

function asRecord(value: unknown): RawRecord | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as RawRecord) : null;
}

function asArray(value: unknown): RawNode[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? (value as RawNode[]) : [value];
}

function attributeOf(node: RawNode, name: string): string | undefined {
  const value = asRecord(asRecord(node)?.$)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** An attribute of the element itself, which parse.ts copies into the `x_$` field. */
function ownAttribute(element: RawRecord, name: string): string | undefined {
  const value = asRecord(element[`${RAW_PREFIX}$`])?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** The text of a node; for nodes with child elements (xhtml) the text of all of them. */
function nodeText(node: RawNode): string | null {
  if (typeof node === 'string') return node;
  if (typeof node === 'number') return String(node);
  const record = asRecord(node);
  if (!record) return null;
  const parts: string[] = [];
  if (typeof record._ === 'string') parts.push(record._);
  // Object.keys rather than Object.entries: on xml2js's prototype-less nodes it costs a third.
  for (const key of Object.keys(record)) {
    if (key === '_' || key === '$') continue;
    for (const child of asArray(record[key])) {
      const text = nodeText(child);
      if (text) parts.push(text);
    }
  }
  return parts.length ? parts.join(' ') : null;
}

function firstText(nodes: readonly RawNode[]): string | null {
  for (const node of nodes) {
    const text = collapseWhitespace(nodeText(node) ?? '');
    if (text) return text;
  }
  return null;
}

function firstNonEmpty(...values: (string | null)[]): string | null {
  return values.find((value): value is string => !!value) ?? null;
}

/** Collapses runs of whitespace to one space and trims. */
export function collapseWhitespace(text: string): string {
  // Most names and titles have only single spaces, and replacing each by itself costs several
  // times more than looking for something else first.
  return (UNCOLLAPSED_WHITESPACE.test(text) ? text.replace(/\s+/g, ' ') : text).trim();
}

/** Whitespace that `replace(/\s+/g, ' ')` would change: a run of two or more, or any but a space. */
const UNCOLLAPSED_WHITESPACE = /\s{2,}|[^\S ]/;

/** The feed URL as a base, when it is one (local files given to the preview are not). */
function baseOf(url: string): string | null {
  return absoluteHttpUrl(url, null);
}

/** An element's xml:base resolved against the enclosing base, or null when it has none. */
function resolveBase(xmlBase: string | undefined, parent: string | null): string | null {
  if (!xmlBase?.trim()) return null;
  return absoluteHttpUrl(xmlBase, parent);
}
