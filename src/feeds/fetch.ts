import { isIP } from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { Agent, request, type Dispatcher } from 'undici';
import { USER_AGENT } from '../version';
import { BlockedLookupError, createGuardedLookup, isBlockedAddress } from './address-guard';
import {
  BlockedAddressError,
  FeedError,
  FeedHttpError,
  FeedTimeoutError,
  FeedTooLargeError,
  FeedUnreachableError,
  InvalidFeedUrlError,
  MalformedFeedError,
  TooManyRedirectsError,
} from './errors';
import type { CacheValidators, FeedSource, FetchHeaders, FetchOutcome } from './types';

/** What Herald asks servers for: feed types first, pages last (they may link to a feed). */
export const FEED_ACCEPT =
  'application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, ' +
  'application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.7, */*;q=0.5';

/** The content codings Herald decompresses itself (so the byte cap sees the inflated size). */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;

/** Settings of the HTTP adapter; `Config` supplies them in the bot. */
export interface FeedSourceOptions {
  /** One deadline for the whole exchange: connecting, every redirect, headers and body. */
  timeoutMs: number;
  /** Largest body accepted, counted after decompression. */
  maxBytes: number;
  /** Lets feeds live on loopback, private and link-local addresses (tests, home servers). */
  allowPrivateNetwork: boolean;
  userAgent?: string;
  /**
   * Which addresses count as private when `allowPrivateNetwork` is false; defaults to
   * `isBlockedAddress`. Tests narrow it to prove that redirect hops are checked too.
   */
  isBlocked?: (ip: string) => boolean;
}

/** A `FeedSource` that owns a connection pool, to be closed on shutdown. */
export interface ClosableFeedSource extends FeedSource {
  /** Closes the pooled connections; fetches after this fail. */
  close(): Promise<void>;
}

type Settings = Required<FeedSourceOptions>;
type ResponseHeaders = Record<string, string | string[] | undefined>;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const PERMANENT_REDIRECTS = new Set([301, 308]);

/** Creates the real HTTP adapter of the feed engine, built on undici with its own connection pool. */
export function createFeedSource(options: FeedSourceOptions): ClosableFeedSource {
  const settings: Settings = {
    ...options,
    userAgent: options.userAgent ?? USER_AGENT,
    isBlocked: options.allowPrivateNetwork ? () => false : (options.isBlocked ?? isBlockedAddress),
  };
  const agent = new Agent({
    connect: {
      // Every name resolution goes through the guard, so the checked address is the one dialled.
      lookup: createGuardedLookup({
        allowPrivateNetwork: options.allowPrivateNetwork,
        isBlocked: settings.isBlocked,
      }),
      timeout: options.timeoutMs,
    },
    // The overall deadline below is the only clock; undici's own would report a different error.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return {
    fetch: (url, validators) => fetchFeed(agent, settings, url, validators ?? {}),
    close: () => agent.close(),
  };
}

async function fetchFeed(
  agent: Agent,
  options: Settings,
  requestedUrl: string,
  validators: CacheValidators,
): Promise<FetchOutcome> {
  let current = checkUrl(requestedUrl, options.isBlocked);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  const visited = new Set([current.href]);
  let permanent = true;
  let hops = 0;
  try {
    for (;;) {
      const response = await requestOnce(agent, options, current, validators, controller.signal);
      const headers = pickHeaders(response.headers);
      const location = header(response.headers, 'location');

      if (REDIRECT_STATUSES.has(response.statusCode) && location !== null) {
        await drain(response.body, controller.signal);
        hops += 1;
        permanent &&= PERMANENT_REDIRECTS.has(response.statusCode);
        const next = resolveLocation(location, current);
        if (hops > MAX_REDIRECTS || visited.has(next)) throw new TooManyRedirectsError(requestedUrl, hops);
        visited.add(next);
        current = checkUrl(next, options.isBlocked);
        continue;
      }

      const base = {
        requestedUrl,
        url: current.href,
        permanentUrl: hops > 0 && permanent ? current.href : null,
        status: response.statusCode,
        headers,
      };
      if (response.statusCode === 304) {
        // Nothing follows a 304's headers, so reading "to the end" is immediate.
        await drain(response.body, controller.signal);
        return { kind: 'not-modified', ...base };
      }
      if (isSuccess(response.statusCode) && matches(validators, headers)) {
        discard(response.body);
        return { kind: 'not-modified', ...base };
      }
      if (!isSuccess(response.statusCode)) {
        discard(response.body);
        throw new FeedHttpError(current.href, response.statusCode, headers.retryAfter);
      }
      const declaredLength = Number(header(response.headers, 'content-length') ?? NaN);
      if (declaredLength > options.maxBytes) {
        // Refused before reading a byte: the server already told us it is too big.
        discard(response.body);
        throw new FeedTooLargeError(current.href, options.maxBytes);
      }
      const body = await readBody(
        response.body,
        header(response.headers, 'content-encoding'),
        options.maxBytes,
        current.href,
        controller.signal,
      );
      return { kind: 'fetched', ...base, body };
    }
  } catch (error) {
    throw toFeedError(error, current.href, options.timeoutMs, controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

function requestOnce(
  agent: Agent,
  options: Settings,
  url: URL,
  validators: CacheValidators,
  signal: AbortSignal,
) {
  const headers: Record<string, string> = {
    'user-agent': options.userAgent,
    accept: FEED_ACCEPT,
    'accept-encoding': ACCEPT_ENCODING,
  };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;
  return request(url, { dispatcher: agent, method: 'GET', headers, signal });
}

/** Refuses what must never reach the network: bad syntax, other schemes, credentials, blocked IP literals. */
function checkUrl(raw: string, isBlocked: (ip: string) => boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new InvalidFeedUrlError(raw, `"${raw}" is not a web address.`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidFeedUrlError(
      raw,
      `Herald only fetches http:// and https:// addresses, not ${url.protocol}.`,
    );
  }
  if (url.username || url.password) {
    throw new InvalidFeedUrlError(raw, 'Addresses with a user name or password are not supported.');
  }
  // The connector skips DNS for IP literals, so the lookup guard never sees them: check here.
  // `new URL` has already normalized forms such as 2130706433 and 0x7f.1 to 127.0.0.1.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0 && isBlocked(host)) {
    throw new BlockedAddressError(raw, host);
  }
  return url;
}

function resolveLocation(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch (error) {
    const reason = `The site redirected to "${location}", which is not a web address.`;
    throw new InvalidFeedUrlError(location, reason, { cause: error });
  }
}

/** Streams the body through the decompressors and stops the moment the inflated size passes the cap. */
async function readBody(
  body: Readable,
  contentEncoding: string | null,
  maxBytes: number,
  url: string,
  signal: AbortSignal,
): Promise<Buffer> {
  let stages: Duplex[];
  try {
    stages = decoders(contentEncoding, url);
  } catch (error) {
    discard(body);
    throw error;
  }
  if (stages.length === 0) return readPlainBody(body, maxBytes, url);
  const chunks: Buffer[] = [];
  let total = 0;
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      // Failing here makes pipeline destroy the decompressors and the socket, so a compression
      // bomb is never inflated much beyond the cap.
      if (total > maxBytes) return callback(new FeedTooLargeError(url, maxBytes));
      chunks.push(chunk);
      callback();
    },
  });
  await pipeline([body, ...stages, collect], { signal });
  return Buffer.concat(chunks, total);
}

/**
 * The common case, an uncompressed body, without a stream pipeline (which costs more than the
 * copy). The request's abort signal still ends it: undici destroys the body on abort.
 */
async function readPlainBody(body: Readable, maxBytes: number, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      discard(body);
      throw new FeedTooLargeError(url, maxBytes);
    }
    chunks.push(chunk);
  }
  // Most feed bodies arrive in one read: no copy then.
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, total);
}

/** One decompressor per coding, in the reverse of the order the server applied them. */
function decoders(contentEncoding: string | null, url: string): Duplex[] {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  return codings.reverse().map((coding): Duplex => {
    if (coding === 'gzip' || coding === 'x-gzip') return createGunzip();
    if (coding === 'br') return createBrotliDecompress();
    if (coding === 'deflate') return Duplex.from(inflateEitherDeflate);
    throw new MalformedFeedError(
      url,
      `it is compressed with "${coding}", which Herald does not support`,
      null,
      null,
    );
  });
}

/**
 * HTTP "deflate" is meant to be zlib-wrapped, but some servers send raw deflate; the first two
 * bytes tell which (a zlib header is a multiple of 31 with compression method 8).
 */
async function* inflateEitherDeflate(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  const zlibWrapped = head.length >= 2 && (head[0]! & 0x0f) === 8 && ((head[0]! << 8) | head[1]!) % 31 === 0;
  const inflater = zlibWrapped ? createInflate() : createInflateRaw();
  const input = Readable.from(
    (async function* () {
      yield head;
      yield* { [Symbol.asyncIterator]: () => iterator };
    })(),
  );
  input.on('error', (error) => inflater.destroy(error));
  input.pipe(inflater);
  try {
    yield* inflater;
  } finally {
    input.destroy();
    inflater.destroy();
  }
}

function toFeedError(error: unknown, url: string, timeoutMs: number, signal: AbortSignal): FeedError {
  if (error instanceof FeedError) return error;
  if (signal.aborted) return new FeedTimeoutError(url, timeoutMs, { cause: error });
  if (error instanceof BlockedLookupError)
    return new BlockedAddressError(url, error.address, { cause: error });
  const code = errorCode(error);
  // zlib reports Z_DATA_ERROR and friends; Node names brotli decoder errors ERR__ERROR_*.
  if (code?.startsWith('Z_') || code?.startsWith('ERR__ERROR_')) {
    return new MalformedFeedError(url, 'its compressed body is corrupt', null, null, { cause: error });
  }
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new FeedTimeoutError(url, timeoutMs, { cause: error });
  }
  // undici reports a peer that hung up as its own socket error; to a user that is a reset.
  const shown = code === 'UND_ERR_SOCKET' || code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'ECONNRESET' : code;
  return new FeedUnreachableError(url, shown, { cause: error });
}

/** The most specific system error code on the error or its causes (ENOTFOUND beats a wrapper's code). */
function errorCode(error: unknown): string | null {
  let found: string | null = null;
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') {
      if (/^E[A-Z]+$/.test(code)) return code;
      found ??= code;
    }
    current = current.cause;
  }
  return found;
}

/** Drops a body we will not read; undici reports that as an abort, which nobody needs to hear. */
function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Largest unwanted body (a redirect's page) read to keep its connection. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * Reads a body we do not need to its end, so the connection goes back to the pool. Destroying it
 * instead would make undici build an abort error with a stack trace for every 304, which costs
 * more than the whole exchange; bodies over DRAIN_LIMIT are dropped with their connection.
 */
async function drain(body: Dispatcher.ResponseData['body'], signal: AbortSignal): Promise<void> {
  await body.dump({ limit: DRAIN_LIMIT, signal }).catch(() => undefined);
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * A 200 carrying the validator we sent means the server ignored it but nothing changed. The ETag
 * decides when both sides have one, since a new ETag with an old date still means new content.
 */
function matches(validators: CacheValidators, headers: FetchHeaders): boolean {
  const weakless = (tag: string) => tag.trim().replace(/^W\//, '');
  if (validators.etag && headers.etag) return weakless(validators.etag) === weakless(headers.etag);
  return Boolean(validators.lastModified && headers.lastModified === validators.lastModified);
}

function header(headers: ResponseHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

function pickHeaders(headers: ResponseHeaders): FetchHeaders {
  return {
    contentType: header(headers, 'content-type'),
    etag: header(headers, 'etag'),
    lastModified: header(headers, 'last-modified'),
    cacheControl: header(headers, 'cache-control'),
    expires: header(headers, 'expires'),
    retryAfter: header(headers, 'retry-after'),
  };
}
