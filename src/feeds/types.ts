/** The syndication format a feed was parsed from. */
export type FeedFormat = 'rss' | 'atom' | 'rdf' | 'json';

/** A feed's own metadata after normalization. */
export interface Feed {
  /** The URL the feed was fetched from (after permanent redirects), or the file path for local input. */
  url: string;
  title: string;
  /** The site the feed belongs to, absolute, or null. */
  link: string | null;
  format: FeedFormat;
  /** The HTML page this feed was discovered from, when the user gave a page rather than a feed. */
  discoveredFrom?: string;
  /** Plain-text description of the feed, or null. */
  description: string | null;
  /** The feed-level author, used when an item names none. */
  author: string | null;
  /** RSS `<ttl>` in seconds, or null. */
  ttlSeconds: number | null;
}

/** A piece of an entry's text as the feed wrote it, and how to read it. */
export interface ItemText {
  text: string;
  type: 'html' | 'text';
}

/**
 * One entry of a feed, normalized; every field but `content` and `imageHtml` is safe to show in
 * Discord as is (they are raw text, shown through `summaryOf` and `imageOf`).
 */
export interface FeedItem {
  /** The primary identity key (the first of `keys`). Distinct within one fetch. */
  id: string;
  /**
   * Every identity key of the item: `g:` guid (only when unique within the fetch), `l:` canonical
   * link, `f:` fingerprint of title and date. An item is new when none of its keys was seen.
   */
  keys: string[];
  /** The raw guid / Atom id / JSON Feed id, or null. */
  guid: string | null;
  /** Plain text title, or null when the entry has none. */
  title: string | null;
  /** Absolute URL of the entry, or null. */
  link: string | null;
  /** ISO-8601 UTC, or null when missing or unparseable. */
  published: string | null;
  author: string | null;
  categories: string[];
  /**
   * The texts the entry's summary is made from, teaser (description, summary) before full content,
   * each cut to a size a summary can use. Converted to Discord markdown only when shown: see
   * `summaryOf` in summary.ts.
   */
  content: readonly ItemText[];
  /** Where relative URLs in `content` resolve, or null. */
  contentBase: string | null;
  /**
   * Absolute URL of the picture the feed names for the entry (enclosure, media:content,
   * media:thumbnail, itunes:image, JSON Feed image or attachment), or null. The picture shown is
   * `imageOf(item)` in summary.ts, which falls back to the first picture in {@link imageHtml}.
   */
  image: string | null;
  /**
   * The entry's HTML, whole, in the order a picture is looked for in it when the feed names none
   * (full content before the teaser); relative URLs resolve against `contentBase`. Looking is left
   * until the picture is shown, like the summary: a fetch shows only its few new items.
   */
  imageHtml?: readonly string[];
}

/** A feed and its items in document order. */
export interface ParsedFeed {
  feed: Feed;
  items: FeedItem[];
}

/** Validators from an earlier fetch, sent back as a conditional GET. */
export interface CacheValidators {
  etag?: string | null;
  lastModified?: string | null;
}

/** Response headers a scheduler needs to be polite. */
export interface FetchHeaders {
  contentType: string | null;
  etag: string | null;
  lastModified: string | null;
  cacheControl: string | null;
  expires: string | null;
  retryAfter: string | null;
}

interface FetchOutcomeBase {
  /** The URL that was asked for. */
  requestedUrl: string;
  /** The URL that finally answered, after redirects. */
  url: string;
  /** Set when every redirect hop was permanent (301/308): the address to store from now on. */
  permanentUrl: string | null;
  /** HTTP status of the final response. */
  status: number;
  headers: FetchHeaders;
}

/** A 304, or a 200 whose validators equal the ones sent: nothing to parse. */
export interface NotModifiedOutcome extends FetchOutcomeBase {
  kind: 'not-modified';
}

/** A 2xx with a body, already decompressed and within the byte cap. */
export interface FetchedOutcome extends FetchOutcomeBase {
  kind: 'fetched';
  body: Buffer;
}

export type FetchOutcome = NotModifiedOutcome | FetchedOutcome;

/** Loads a URL over HTTP; the one I/O boundary of the feed engine. */
export interface FeedSource {
  /** Fetches `url`; throws a FeedError subclass for every failure. */
  fetch(url: string, validators?: CacheValidators): Promise<FetchOutcome>;
}
