import { hash } from 'node:crypto';
import { decodeFeedBody } from './decode';
import { findFeedLinks, wellKnownFeedUrls } from './discover';
import { FeedError, NotAFeedError } from './errors';
import { looksLikeHtmlPage, parseFeed } from './parse';
import type { CacheValidators, FeedSource, FetchedOutcome, NotModifiedOutcome, ParsedFeed } from './types';

/** What the poller and the commands get back for a URL. */
export type LoadOutcome =
  | { kind: 'parsed'; parsed: ParsedFeed; response: FetchedOutcome; bodyHash: string }
  | { kind: 'not-modified'; response: NotModifiedOutcome }
  | { kind: 'unchanged'; response: FetchedOutcome; bodyHash: string };

/** How `loadFeed` treats the URL and what it already knows about it. */
export interface LoadOptions {
  /** ETag and Last-Modified from the previous fetch. */
  validators?: CacheValidators;
  /** Hash of the previous body: a 200 with the same bytes is "unchanged" and is not parsed. */
  previousBodyHash?: string | null;
  /** Follow feed links from an HTML page (when a user types a site's address); off for polling. */
  discover?: boolean;
}

/** Feed links tried from one page; a page listing dozens is not asking to be crawled. */
const MAX_DECLARED_CANDIDATES = 4;

/**
 * Fetch → decode → parse for one URL, following discovery from an HTML page when asked. The
 * returned feed's `url` is the address to store: the permanent redirect target, the discovered
 * feed, or the URL as given.
 */
export async function loadFeed(
  source: FeedSource,
  url: string,
  options: LoadOptions = {},
): Promise<LoadOutcome> {
  const fetched = await fetchChanges(source, url, options);
  if (fetched.kind !== 'changed') return fetched;
  const { response, bodyHash } = fetched;
  if (!options.discover) return { kind: 'parsed', parsed: await fetched.parse(), response, bodyHash };
  const text = decodeFeedBody(response.body, response.headers.contentType);
  if (looksLikeHtmlPage(text, response.headers.contentType)) return discoverFrom(source, text, response.url);
  return { kind: 'parsed', parsed: await parseText(text, response, url), response, bodyHash };
}

/** Parses a fetched body; the feed's `url` is where it is to be stored. */
async function parseText(text: string, response: FetchedOutcome, url: string): Promise<ParsedFeed> {
  const parsed = await parseFeed(text, { url: response.url, contentType: response.headers.contentType });
  parsed.feed.url = response.permanentUrl ?? url;
  return parsed;
}

/** What a poll's fetch found: nothing new, or a changed body still to be parsed. */
export type FetchedChanges =
  | Exclude<LoadOutcome, { kind: 'parsed' }>
  | {
      kind: 'changed';
      response: FetchedOutcome;
      bodyHash: string;
      /** Decodes and parses the body (throws a FeedError when it is not a feed). */
      parse(): Promise<ParsedFeed>;
    };

/**
 * Fetch and compare for one URL, leaving the parse to the caller: the poller first reads what it
 * needs to record the result, so a parsed feed lives only while it is being recorded.
 */
export async function fetchChanges(
  source: FeedSource,
  url: string,
  options: Omit<LoadOptions, 'discover'> = {},
): Promise<FetchedChanges> {
  const response = await source.fetch(url, options.validators);
  if (response.kind === 'not-modified') return { kind: 'not-modified', response };

  const bodyHash = hashBody(response.body);
  if (options.previousBodyHash && options.previousBodyHash === bodyHash) {
    return { kind: 'unchanged', response, bodyHash };
  }
  return {
    kind: 'changed',
    response,
    bodyHash,
    parse: () => parseText(decodeFeedBody(response.body, response.headers.contentType), response, url),
  };
}

/** A parsed outcome: what a user-typed URL always gives, since no validators are sent. */
export type ParsedOutcome = Extract<LoadOutcome, { kind: 'parsed' }>;

/**
 * Loads a URL a person typed (a feed or a page that links to one), following discovery. Without
 * validators or a previous hash a server cannot answer "not modified", so the result is parsed.
 */
export async function loadTypedUrl(source: FeedSource, url: string): Promise<ParsedOutcome> {
  const outcome = await loadFeed(source, url, { discover: true });
  if (outcome.kind !== 'parsed') throw new Error(`${url} answered "not modified" to a plain request`);
  return outcome;
}

/** A SHA-256 of the raw body, short enough to store with every feed. */
export function hashBody(body: Uint8Array): string {
  return hash('sha256', body, 'base64url').slice(0, 22);
}

async function discoverFrom(source: FeedSource, html: string, pageUrl: string): Promise<LoadOutcome> {
  const declared = findFeedLinks(html, pageUrl).slice(0, MAX_DECLARED_CANDIDATES);
  let firstFailure: FeedError | null = null;
  for (const candidate of [...declared, ...wellKnownFeedUrls(pageUrl)]) {
    try {
      const outcome = await loadFeed(source, candidate, { discover: false });
      if (outcome.kind === 'parsed') {
        outcome.parsed.feed.discoveredFrom = pageUrl;
        return outcome;
      }
    } catch (error) {
      if (!(error instanceof FeedError)) throw error;
      // A declared feed that fails is worth reporting; a guessed path that 404s is not.
      if (declared.includes(candidate) && !firstFailure) firstFailure = error;
    }
  }
  if (firstFailure) throw firstFailure;
  throw new NotAFeedError(pageUrl, 'it is a web page that links to no feed');
}
