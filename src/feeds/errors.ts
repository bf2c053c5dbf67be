import { hostOf } from './url-host';

/**
 * Everything that can go wrong between a URL and a list of items. Each class carries the fields a
 * caller branches on, and a message a server admin understands without knowing HTTP internals.
 */
export abstract class FeedError extends Error {
  /** A stable machine-readable kind, also stored as a feed's last error. */
  abstract readonly kind: string;

  constructor(
    message: string,
    /** The URL being loaded when it failed. */
    readonly url: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The URL is not something Herald can fetch (bad syntax, or a scheme other than http/https). */
export class InvalidFeedUrlError extends FeedError {
  readonly kind = 'invalid-url';
  constructor(url: string, reason: string, options?: ErrorOptions) {
    super(`${reason} Give a full http:// or https:// address of a feed or a web page.`, url, options);
  }
}

/** The host resolves to an address Herald may not contact (loopback, private, link-local, …). */
export class BlockedAddressError extends FeedError {
  readonly kind = 'blocked-address';
  constructor(
    url: string,
    readonly address: string,
    options?: ErrorOptions,
  ) {
    super(
      `${hostOf(url)} points to a private or local network address (${address}), which Herald does not fetch. ` +
        'Use a public address; the bot operator can allow private feeds with ALLOW_PRIVATE_NETWORK_FEEDS=true.',
      url,
      options,
    );
  }
}

/** The whole request (headers and body) did not finish within the timeout. */
export class FeedTimeoutError extends FeedError {
  readonly kind = 'timeout';
  constructor(
    url: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(
      `${hostOf(url)} did not answer within ${formatSeconds(timeoutMs)}. The site may be down or slow; try again later.`,
      url,
      options,
    );
  }
}

/** The body grew past the byte cap (measured after decompression). */
export class FeedTooLargeError extends FeedError {
  readonly kind = 'too-large';
  constructor(
    url: string,
    readonly maxBytes: number,
    options?: ErrorOptions,
  ) {
    super(
      `The feed at ${url} is larger than ${formatBytes(maxBytes)}, the most Herald reads. ` +
        'Use a smaller feed (many sites offer one per category), or ask the bot operator to raise MAX_FEED_BYTES.',
      url,
      options,
    );
  }
}

/** The server answered with an HTTP status that is neither success nor "not modified". */
export class FeedHttpError extends FeedError {
  readonly kind = 'http-status';
  constructor(
    url: string,
    readonly status: number,
    /** The server's Retry-After header, when it sent one (429, 503). */
    readonly retryAfter: string | null = null,
    options?: ErrorOptions,
  ) {
    super(`${hostOf(url)} answered HTTP ${status} (${describeStatus(status)}).`, url, options);
  }
}

/** More redirects than allowed, or a loop. */
export class TooManyRedirectsError extends FeedError {
  readonly kind = 'too-many-redirects';
  constructor(
    url: string,
    readonly hops: number,
    options?: ErrorOptions,
  ) {
    super(
      `${url} redirects too many times (${hops} hops or a loop). Open it in a browser and use the address it ends at.`,
      url,
      options,
    );
  }
}

/** DNS failure, refused connection, TLS failure, reset: the server could not be reached. */
export class FeedUnreachableError extends FeedError {
  readonly kind = 'unreachable';
  constructor(
    url: string,
    /** The system error code, e.g. ENOTFOUND or ECONNREFUSED, when known. */
    readonly code: string | null,
    options?: ErrorOptions,
  ) {
    super(
      `Could not reach ${hostOf(url)}${code ? ` (${code})` : ''}. Check the address, or try again later.`,
      url,
      options,
    );
  }
}

/** The body is neither a feed nor a page that links to one. */
export class NotAFeedError extends FeedError {
  readonly kind = 'not-a-feed';
  constructor(url: string, detail: string, options?: ErrorOptions) {
    super(
      `${url} is not an RSS, Atom or JSON feed${detail ? ` (${detail})` : ''}. Give the feed's own address.`,
      url,
      options,
    );
  }
}

/** The body looks like a feed but cannot be parsed (broken XML or JSON). */
export class MalformedFeedError extends FeedError {
  readonly kind = 'malformed';
  constructor(
    url: string,
    readonly detail: string,
    /** 1-based position of the problem, when the parser reports it. */
    readonly line: number | null,
    readonly column: number | null,
    options?: ErrorOptions,
  ) {
    const at = line !== null ? ` at line ${line}${column !== null ? `, column ${column}` : ''}` : '';
    super(`The feed at ${url} is broken${at}: ${detail}. The site needs to fix its feed.`, url, options);
  }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

function describeStatus(status: number): string {
  const known: Record<number, string> = {
    400: 'bad request',
    401: 'login required',
    403: 'access forbidden',
    404: 'not found: check the address',
    410: 'gone: the feed was removed',
    429: 'too many requests: the site is rate-limiting',
    500: 'server error',
    502: 'bad gateway',
    503: 'service unavailable',
    504: 'gateway timeout',
  };
  return known[status] ?? (status >= 500 ? 'server error' : 'unexpected response');
}
