import { createServer } from 'node:net';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BlockedAddressError,
  FeedHttpError,
  FeedTimeoutError,
  FeedTooLargeError,
  FeedUnreachableError,
  InvalidFeedUrlError,
  MalformedFeedError,
  TooManyRedirectsError,
} from '../../src/feeds/errors';
import { createFeedSource, type ClosableFeedSource, type FeedSourceOptions } from '../../src/feeds/fetch';
import type { FetchOutcome } from '../../src/feeds/types';
import { USER_AGENT } from '../../src/version';
import { startFeedServer, type FeedServer } from '../support/feed-server';

const RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>';

let server: FeedServer;
const sources: ClosableFeedSource[] = [];

function source(overrides: Partial<FeedSourceOptions> = {}): ClosableFeedSource {
  const created = createFeedSource({
    timeoutMs: 5000,
    maxBytes: 1024 * 1024,
    allowPrivateNetwork: true,
    ...overrides,
  });
  sources.push(created);
  return created;
}

function bodyOf(outcome: FetchOutcome): string {
  if (outcome.kind !== 'fetched') throw new Error(`expected a body, got ${outcome.kind}`);
  return outcome.body.toString('utf8');
}

async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startIPv6Server(): Promise<FeedServer | null> {
  try {
    return await startFeedServer({ host: '::1' });
  } catch {
    return null; // the machine has no IPv6 loopback
  }
}

beforeAll(async () => {
  server = await startFeedServer();
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((created) => created.close()));
});

afterAll(async () => {
  await server.close();
});

describe('conditional requests', () => {
  it('sends the stored ETag back and reports a 304 as not modified', async () => {
    server.serve('/etag.xml', {
      body: RSS,
      etag: '"v1"',
      headers: { 'content-type': 'application/rss+xml' },
    });
    const feeds = source();

    const first = await feeds.fetch(server.url('/etag.xml'));
    expect(first.kind).toBe('fetched');
    expect(first.headers.etag).toBe('"v1"');

    const second = await feeds.fetch(server.url('/etag.xml'), { etag: first.headers.etag });
    expect(second).toMatchObject({ kind: 'not-modified', status: 304 });
    expect(server.requestsTo('/etag.xml')[1]?.headers['if-none-match']).toBe('"v1"');
  });

  it('sends the stored Last-Modified back and reports a 304 as not modified', async () => {
    const date = 'Tue, 02 Jan 2024 03:04:05 GMT';
    server.serve('/dated.xml', { body: RSS, lastModified: date });
    const feeds = source();

    const first = await feeds.fetch(server.url('/dated.xml'));
    expect(first.headers.lastModified).toBe(date);

    const second = await feeds.fetch(server.url('/dated.xml'), { lastModified: first.headers.lastModified });
    expect(second.kind).toBe('not-modified');
    expect(server.requestsTo('/dated.xml')[1]?.headers['if-modified-since']).toBe(date);
  });

  it('reuses its connections for a feed checked again and again, through 304s and short redirects', async () => {
    server.serve('/kept.xml', { body: RSS, etag: '"k1"' });
    server.redirect('/kept-old', '/kept.xml', 302);
    const feeds = source();

    await feeds.fetch(server.url('/kept.xml'));
    for (let check = 0; check < 3; check += 1) {
      await expect(feeds.fetch(server.url('/kept.xml'), { etag: '"k1"' })).resolves.toMatchObject({
        kind: 'not-modified',
      });
    }
    await expect(feeds.fetch(server.url('/kept-old'), { etag: '"k1"' })).resolves.toMatchObject({
      kind: 'not-modified',
      url: server.url('/kept.xml'),
    });

    const ports = new Set(
      server.requests
        .filter((request) => request.path.startsWith('/kept'))
        .map((request) => request.clientPort),
    );
    expect(server.requests.filter((request) => request.path.startsWith('/kept'))).toHaveLength(6);
    // undici's pool may open a second connection before it sees the first one free again; what
    // matters is that checks reuse them instead of dialling once per request.
    expect(ports.size).toBeLessThanOrEqual(2);
  });

  it('treats a 200 that repeats the ETag it was sent as not modified, without a body', async () => {
    server.serve('/ignores-etag.xml', { body: RSS, headers: { etag: 'W/"abc"' } });
    const outcome = await source().fetch(server.url('/ignores-etag.xml'), { etag: 'W/"abc"' });
    expect(outcome).toMatchObject({ kind: 'not-modified', status: 200 });
    expect(outcome).not.toHaveProperty('body');
  });

  it('treats a 200 that repeats the Last-Modified it was sent as not modified', async () => {
    const date = 'Wed, 03 Jan 2024 00:00:00 GMT';
    server.serve('/ignores-date.xml', { body: RSS, headers: { 'last-modified': date } });
    const outcome = await source().fetch(server.url('/ignores-date.xml'), { lastModified: date });
    expect(outcome.kind).toBe('not-modified');
  });

  it('returns the body when the ETag changed even though the date did not', async () => {
    const date = 'Thu, 04 Jan 2024 00:00:00 GMT';
    server.serve('/new-etag-same-date.xml', { body: RSS, headers: { etag: '"new"', 'last-modified': date } });
    const outcome = await source().fetch(server.url('/new-etag-same-date.xml'), {
      etag: '"old"',
      lastModified: date,
    });
    expect(bodyOf(outcome)).toBe(RSS);
  });

  it('returns the new body when the ETag changed', async () => {
    server.serve('/changed.xml', { body: RSS, etag: '"v2"' });
    const outcome = await source().fetch(server.url('/changed.xml'), { etag: '"v1"' });
    expect(bodyOf(outcome)).toBe(RSS);
    expect(outcome.headers.etag).toBe('"v2"');
  });
});

describe('redirects', () => {
  it('reports the final address as permanent after a chain of 301 and 308', async () => {
    server.redirect('/moved-a', '/moved-b', 301);
    server.redirect('/moved-b', '/moved-final.xml', 308);
    server.serve('/moved-final.xml', { body: RSS });
    const outcome = await source().fetch(server.url('/moved-a'));
    expect(outcome).toMatchObject({
      requestedUrl: server.url('/moved-a'),
      url: server.url('/moved-final.xml'),
      permanentUrl: server.url('/moved-final.xml'),
    });
    expect(bodyOf(outcome)).toBe(RSS);
  });

  it('does not report a permanent address when a 302 follows a 301', async () => {
    server.redirect('/mixed-a', '/mixed-b', 301);
    server.redirect('/mixed-b', '/mixed-final.xml', 302);
    server.serve('/mixed-final.xml', { body: RSS });
    const outcome = await source().fetch(server.url('/mixed-a'));
    expect(outcome.url).toBe(server.url('/mixed-final.xml'));
    expect(outcome.permanentUrl).toBeNull();
  });

  it('does not report a permanent address after a single 302', async () => {
    server.redirect('/temporary', '/temporary-final.xml', 302);
    server.serve('/temporary-final.xml', { body: RSS });
    const outcome = await source().fetch(server.url('/temporary'));
    expect(outcome).toMatchObject({ url: server.url('/temporary-final.xml'), permanentUrl: null });
  });

  it('resolves a relative Location against the address that sent it', async () => {
    server.redirect('/blog/posts/feed', '../rss.xml', 301);
    server.serve('/blog/rss.xml', { body: RSS });
    const outcome = await source().fetch(server.url('/blog/posts/feed'));
    expect(outcome.url).toBe(server.url('/blog/rss.xml'));
  });

  it('follows five redirects but refuses a sixth', async () => {
    for (let hop = 0; hop < 6; hop += 1) server.redirect(`/hop-${hop}`, `/hop-${hop + 1}`, 302);
    server.serve('/hop-5', { body: RSS });
    server.serve('/hop-6', { body: RSS });

    const outcome = await source().fetch(server.url('/hop-0'));
    expect(outcome.url).toBe(server.url('/hop-5'));

    server.redirect('/hop-5', '/hop-6', 302);
    const error: unknown = await source()
      .fetch(server.url('/hop-0'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TooManyRedirectsError);
    expect(server.requestsTo('/hop-6')).toHaveLength(0);
  });

  it('refuses a redirect loop', async () => {
    server.redirect('/loop-a', '/loop-b', 301);
    server.redirect('/loop-b', '/loop-a', 301);
    await expect(source().fetch(server.url('/loop-a'))).rejects.toBeInstanceOf(TooManyRedirectsError);
    expect(server.requestsTo('/loop-a')).toHaveLength(1);
  });

  it('refuses a redirect to a scheme other than http and https', async () => {
    server.redirect('/to-file', 'file:///etc/passwd', 302);
    await expect(source().fetch(server.url('/to-file'))).rejects.toBeInstanceOf(InvalidFeedUrlError);
  });
});

describe('timeouts', () => {
  it('gives up on a server that never answers', async () => {
    server.serve('/silent', { stall: 'before-headers' });
    const error: unknown = await source({ timeoutMs: 300 })
      .fetch(server.url('/silent'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 300 });
  });

  it('gives up on a body that stalls after the headers arrived', async () => {
    server.serve('/stalls', { body: RSS, stall: 'after-headers' });
    await expect(source({ timeoutMs: 300 }).fetch(server.url('/stalls'))).rejects.toBeInstanceOf(
      FeedTimeoutError,
    );
    await expect(server.requestsTo('/stalls')[0]?.outcome).resolves.toBe('aborted');
  });
});

describe('compression and the byte cap', () => {
  const text = `${RSS}<!-- ${'é'.repeat(2000)} -->`;

  it.each(['gzip', 'deflate', 'br'] as const)('asks for %s and inflates it', async (encoding) => {
    server.serve(`/compressed-${encoding}`, { body: text, encoding });
    const outcome = await source().fetch(server.url(`/compressed-${encoding}`));
    expect(bodyOf(outcome)).toBe(text);
    expect(server.requestsTo(`/compressed-${encoding}`)[0]?.headers['accept-encoding']).toBe(
      'gzip, deflate, br',
    );
  });

  it('inflates raw deflate that some servers send instead of zlib-wrapped deflate', async () => {
    server.serve('/raw-deflate', { body: deflateRawSync(text), headers: { 'content-encoding': 'deflate' } });
    expect(bodyOf(await source().fetch(server.url('/raw-deflate')))).toBe(text);
  });

  it.each(['gzip', 'br'])('reports a corrupt %s body as a broken feed', async (encoding) => {
    server.serve(`/corrupt-${encoding}`, {
      body: Buffer.from('definitely not compressed'),
      headers: { 'content-encoding': encoding },
    });
    await expect(source().fetch(server.url(`/corrupt-${encoding}`))).rejects.toBeInstanceOf(
      MalformedFeedError,
    );
  });

  it('reports a compression it cannot undo as a broken feed', async () => {
    server.serve('/zstd', { body: 'compressed?', headers: { 'content-encoding': 'zstd' } });
    const error: unknown = await source()
      .fetch(server.url('/zstd'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect((error as MalformedFeedError).message).toContain('zstd');
  });

  it('refuses a plain body over the cap', async () => {
    server.serve('/big', { body: 'x'.repeat(4096) });
    const error: unknown = await source({ maxBytes: 4095 })
      .fetch(server.url('/big'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedTooLargeError);
    expect(error).toMatchObject({ maxBytes: 4095 });
  });

  it('accepts a body exactly at the cap', async () => {
    server.serve('/exact', { body: 'x'.repeat(4096) });
    expect(bodyOf(await source({ maxBytes: 4096 }).fetch(server.url('/exact')))).toHaveLength(4096);
  });

  it('refuses a declared Content-Length over the cap without waiting for the body', async () => {
    // The body never comes: only an early refusal can answer before the (long) timeout.
    server.route('/declared-huge', (_req, res) => {
      res.writeHead(200, { 'content-length': 50_000_000 }).flushHeaders();
    });
    await expect(
      source({ maxBytes: 1024 * 1024, timeoutMs: 15_000 }).fetch(server.url('/declared-huge')),
    ).rejects.toBeInstanceOf(FeedTooLargeError);
    await expect(server.requestsTo('/declared-huge')[0]?.outcome).resolves.toBe('aborted');
  });

  it('measures the cap after decompression', async () => {
    const zeros = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    expect(zeros.length).toBeLessThan(100 * 1024);
    server.serve('/bomb', { body: zeros, headers: { 'content-encoding': 'gzip' } });
    await expect(source({ maxBytes: 1024 * 1024 }).fetch(server.url('/bomb'))).rejects.toBeInstanceOf(
      FeedTooLargeError,
    );
  });

  it('stops reading an endless gzip bomb at the cap and hangs up', async () => {
    // Concatenated gzip members are one valid stream: each 1 KiB member inflates to 1 MiB.
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    const members = 100_000; // ~100 GiB inflated, ~100 MB on the wire if it were all read
    let written = 0;
    server.route('/endless-bomb', (_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      let sent = 0;
      const pump = () => {
        while (sent < members && !res.destroyed) {
          sent += 1;
          written += member.length;
          if (!res.write(member)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });

    // A reader that ignored the cap would still be inflating at the deadline and fail with a
    // timeout instead, long before it could exhaust memory.
    await expect(
      source({ maxBytes: 1024 * 1024, timeoutMs: 3000 }).fetch(server.url('/endless-bomb')),
    ).rejects.toBeInstanceOf(FeedTooLargeError);
    await expect(server.requestsTo('/endless-bomb')[0]?.outcome).resolves.toBe('aborted');
    expect(written).toBeLessThan((member.length * members) / 10);
  });
});

describe('request and response headers', () => {
  it('identifies itself honestly and asks for feed types first', async () => {
    server.serve('/headers.xml', { body: RSS });
    await source().fetch(server.url('/headers.xml'));
    const seen = server.requestsTo('/headers.xml')[0]?.headers;
    expect(seen?.['user-agent']).toBe(USER_AGENT);
    expect(seen?.['user-agent']).toMatch(/^Herald\/\d+\.\d+\.\d+\S* \(\+https?:\/\/\S+\)$/);
    expect(seen?.['accept']).toMatch(/^application\/rss\+xml, application\/atom\+xml, /);
    expect(seen?.['accept']).toContain('text/html;q=0.7');
    expect(seen?.['accept-encoding']).toBe('gzip, deflate, br');
  });

  it('sends a configured User-Agent instead of the default', async () => {
    server.serve('/custom-agent.xml', { body: RSS });
    await source({ userAgent: 'Herald-test/1' }).fetch(server.url('/custom-agent.xml'));
    expect(server.requestsTo('/custom-agent.xml')[0]?.headers['user-agent']).toBe('Herald-test/1');
  });

  it('reports the status and the headers a polite scheduler needs', async () => {
    server.serve('/polite.xml', {
      status: 203,
      body: RSS,
      headers: {
        'content-type': 'application/rss+xml; charset=utf-8',
        etag: '"e"',
        'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
        'cache-control': 'public, max-age=1800',
        expires: 'Mon, 01 Jan 2024 00:30:00 GMT',
        'retry-after': '120',
      },
    });
    const outcome = await source().fetch(server.url('/polite.xml'));
    expect(outcome).toMatchObject({
      kind: 'fetched',
      status: 203,
      headers: {
        contentType: 'application/rss+xml; charset=utf-8',
        etag: '"e"',
        lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT',
        cacheControl: 'public, max-age=1800',
        expires: 'Mon, 01 Jan 2024 00:30:00 GMT',
        retryAfter: '120',
      },
    });
  });

  it.each([404, 500])('turns HTTP %i into an error carrying the status', async (status) => {
    server.serve(`/status-${status}`, { status, body: 'nope' });
    const error: unknown = await source()
      .fetch(server.url(`/status-${status}`))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedHttpError);
    expect(error).toMatchObject({ status, retryAfter: null });
  });

  it('passes on Retry-After from a 429', async () => {
    server.serve('/rate-limited', { status: 429, headers: { 'retry-after': '3600' } });
    const error: unknown = await source()
      .fetch(server.url('/rate-limited'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedHttpError);
    expect(error).toMatchObject({ status: 429, retryAfter: '3600' });
  });
});

describe('addresses Herald refuses to fetch', () => {
  it.each([
    'file:///etc/passwd',
    'ftp://example.com/feed.xml',
    'javascript:alert(1)',
    'data:text/xml,<rss/>',
  ])('refuses %s', async (url) => {
    await expect(source().fetch(url)).rejects.toBeInstanceOf(InvalidFeedUrlError);
  });

  it.each(['not a url', '', 'example.com/feed.xml'])('refuses the unparsable address "%s"', async (url) => {
    await expect(source().fetch(url)).rejects.toBeInstanceOf(InvalidFeedUrlError);
  });

  it('refuses an address with credentials without contacting the server', async () => {
    const before = server.requests.length;
    const url = server.url('/secret.xml').replace('http://', 'http://user:pass@');
    await expect(source().fetch(url)).rejects.toBeInstanceOf(InvalidFeedUrlError);
    expect(server.requests.length).toBe(before);
  });
});

describe('the private network guard', () => {
  it.each([
    ['a loopback IPv4 literal', (port: number) => `http://127.0.0.1:${port}/guarded.xml`],
    ['loopback written as one number', (port: number) => `http://2130706433:${port}/guarded.xml`],
    ['loopback written in hex', (port: number) => `http://0x7f.1:${port}/guarded.xml`],
    [
      'loopback behind the IPv4-mapped IPv6 form',
      (port: number) => `http://[::ffff:127.0.0.1]:${port}/guarded.xml`,
    ],
  ])('refuses %s without sending a request', async (_name, urlFor) => {
    server.serve('/guarded.xml', { body: RSS });
    const error: unknown = await source({ allowPrivateNetwork: false })
      .fetch(urlFor(server.port))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect(server.requestsTo('/guarded.xml')).toHaveLength(0);
  });

  it('refuses a blocked address on every fetch, and still fetches an allowed one it has seen', async () => {
    server.serve('/guarded.xml', { body: RSS });
    const guarded = source({ allowPrivateNetwork: false, isBlocked: (ip) => ip === '127.0.0.2' });
    const blocked = `http://127.0.0.2:${server.port}/guarded.xml`;
    const allowed = `http://127.0.0.1:${server.port}/guarded.xml`;
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(guarded.fetch(blocked)).rejects.toBeInstanceOf(BlockedAddressError);
      expect(bodyOf(await guarded.fetch(allowed))).toBe(RSS);
    }
    expect(server.requestsTo('/guarded.xml')).toHaveLength(2);
  });

  it('refuses the IPv6 loopback literal without sending a request', async (context) => {
    const v6 = await startIPv6Server();
    if (!v6) return context.skip();
    try {
      v6.serve('/feed.xml', { body: RSS });
      const error: unknown = await source({ allowPrivateNetwork: false })
        .fetch(v6.url('/feed.xml'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlockedAddressError);
      expect(error).toMatchObject({ address: '::1' });
      expect(v6.requests).toHaveLength(0);

      expect(bodyOf(await source().fetch(v6.url('/feed.xml')))).toBe(RSS);
    } finally {
      await v6.close();
    }
  });

  it('refuses a name that resolves to loopback when connecting', async () => {
    server.serve('/by-name.xml', { body: RSS });
    const error: unknown = await source({ allowPrivateNetwork: false })
      .fetch(server.url('/by-name.xml', 'localhost'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedAddressError);
    expect((error as BlockedAddressError).address).toMatch(/^(127\.|::1$)/);
    expect(server.requestsTo('/by-name.xml')).toHaveLength(0);
  });

  it('checks every redirect hop, not only the first address', async () => {
    const second = await startFeedServer({ host: '127.0.0.2' });
    try {
      second.serve('/internal.xml', { body: 'secret' });
      server.redirect('/to-internal', second.url('/internal.xml'), 302);
      // Pretend only 127.0.0.1 is public, so the first hop is allowed and the second is not.
      const feeds = source({ allowPrivateNetwork: false, isBlocked: (ip) => ip !== '127.0.0.1' });

      const error: unknown = await feeds.fetch(server.url('/to-internal')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlockedAddressError);
      expect(error).toMatchObject({ address: '127.0.0.2' });
      expect(second.requests).toHaveLength(0);
    } finally {
      await second.close();
    }
  });

  it('reaches loopback by literal and by name when private networks are allowed', async () => {
    server.serve('/allowed.xml', { body: RSS });
    const feeds = source({ allowPrivateNetwork: true });
    expect(bodyOf(await feeds.fetch(server.url('/allowed.xml')))).toBe(RSS);
    expect(bodyOf(await feeds.fetch(server.url('/allowed.xml', 'localhost')))).toBe(RSS);
    expect(bodyOf(await feeds.fetch(`http://2130706433:${server.port}/allowed.xml`))).toBe(RSS);
  });
});

describe('network failures', () => {
  it('reports a refused connection as unreachable with its code', async () => {
    const port = await refusedPort();
    const error: unknown = await source()
      .fetch(`http://127.0.0.1:${port}/feed.xml`)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedUnreachableError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('reports an unknown host as unreachable, answering .invalid names without asking DNS', async () => {
    const error: unknown = await source()
      .fetch('http://nonexistent.invalid/feed.xml')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedUnreachableError);
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('reports a connection dropped in the middle of the body as unreachable', async () => {
    server.route('/dropped', (req, res) => {
      res.writeHead(200, { 'content-length': 10_000 });
      res.write('<rss>', () => req.socket.destroy());
    });
    const error: unknown = await source()
      .fetch(server.url('/dropped'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeedUnreachableError);
    expect((error as FeedUnreachableError).code).not.toBeNull();
  });

  it('reports a connection dropped before any answer as unreachable', async () => {
    server.route('/hang-up', (req) => void req.socket.destroy());
    await expect(source().fetch(server.url('/hang-up'))).rejects.toBeInstanceOf(FeedUnreachableError);
  });
});
