import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MalformedFeedError, NotAFeedError } from '../../src/feeds/errors';
import { createFeedSource, type ClosableFeedSource } from '../../src/feeds/fetch';
import { loadFeed } from '../../src/feeds/load-feed';
import { startFeedServer, type FeedServer } from '../support/feed-server';

const atom = readFileSync(new URL('../fixtures/hexo-bmwlog-atom.xml', import.meta.url), 'utf8');
const rss = readFileSync(new URL('../fixtures/hashnode-buddha-rss2.xml', import.meta.url), 'utf8');
const RSS_TYPE = { 'Content-Type': 'application/rss+xml; charset=utf-8' };
const HTML_TYPE = { 'Content-Type': 'text/html; charset=utf-8' };

let server: FeedServer;
let source: ClosableFeedSource;

beforeEach(async () => {
  server = await startFeedServer();
  source = createFeedSource({ timeoutMs: 2000, maxBytes: 5 * 1024 * 1024, allowPrivateNetwork: true });
});

afterEach(async () => {
  await source.close();
  await server.close();
});

describe('loadFeed discovery', () => {
  it('follows a relative <link rel=alternate> from an HTML page and reports the page', async () => {
    server.serve('/blog/', {
      headers: HTML_TYPE,
      body: '<html><head><link rel="alternate" type="application/atom+xml" href="../atom.xml"></head><body>Hi</body></html>',
    });
    server.serve('/atom.xml', { headers: { 'Content-Type': 'application/atom+xml' }, body: atom });

    const outcome = await loadFeed(source, server.url('/blog/'), { discover: true });

    expect(outcome.kind).toBe('parsed');
    if (outcome.kind !== 'parsed') return;
    expect(outcome.parsed.feed).toMatchObject({
      url: server.url('/atom.xml'),
      title: 'bmwlog',
      format: 'atom',
      discoveredFrom: server.url('/blog/'),
    });
    expect(outcome.parsed.items).toHaveLength(20);
  });

  it('tries /feed.xml on the same origin when the page declares no feed', async () => {
    server.serve('/', {
      headers: HTML_TYPE,
      body: '<html><head><title>Home</title></head><body>Posts</body></html>',
    });
    server.serve('/feed.xml', { headers: RSS_TYPE, body: rss });

    const outcome = await loadFeed(source, server.url('/'), { discover: true });

    expect(outcome.kind === 'parsed' && outcome.parsed.feed).toMatchObject({
      url: server.url('/feed.xml'),
      title: "Buddha's Blog",
      discoveredFrom: server.url('/'),
    });
    // The guesses before /feed.xml were asked for and answered 404.
    expect(server.requestsTo('/feed')).toHaveLength(1);
    expect(server.requestsTo('/rss.xml')).toHaveLength(1);
  });

  it('says a page with no feed at all is not a feed', async () => {
    server.serve('/about', { headers: HTML_TYPE, body: '<html><body>About us</body></html>' });

    await expect(loadFeed(source, server.url('/about'), { discover: true })).rejects.toSatisfy(
      (error) => error instanceof NotAFeedError && /links to no feed/.test(error.message),
    );
  });

  it('does not follow links from a page while polling', async () => {
    server.serve('/page', {
      headers: HTML_TYPE,
      body: '<link rel="alternate" type="application/rss+xml" href="/rss.xml">',
    });
    server.serve('/rss.xml', { headers: RSS_TYPE, body: rss });

    await expect(loadFeed(source, server.url('/page'))).rejects.toBeInstanceOf(NotAFeedError);
    expect(server.requestsTo('/rss.xml')).toHaveLength(0);
  });
});

describe('loadFeed bodies', () => {
  it('reports a body identical to the previous one as unchanged without parsing it', async () => {
    server.serve('/feed', { headers: RSS_TYPE, body: rss });
    const first = await loadFeed(source, server.url('/feed'));
    expect(first.kind).toBe('parsed');
    const hash = first.kind === 'parsed' ? first.bodyHash : null;

    const second = await loadFeed(source, server.url('/feed'), { previousBodyHash: hash });

    expect(second.kind).toBe('unchanged');
  });

  it('stores the target of a permanent redirect as the feed URL', async () => {
    server.redirect('/old', '/new', 301);
    server.serve('/new', { headers: RSS_TYPE, body: rss });

    const outcome = await loadFeed(source, server.url('/old'));

    expect(outcome.kind === 'parsed' && outcome.parsed.feed.url).toBe(server.url('/new'));
  });

  it('keeps the asked URL after a temporary redirect', async () => {
    server.redirect('/moving', '/today', 302);
    server.serve('/today', { headers: RSS_TYPE, body: rss });

    const outcome = await loadFeed(source, server.url('/moving'));

    expect(outcome.kind === 'parsed' && outcome.parsed.feed.url).toBe(server.url('/moving'));
  });

  it('gives a typed error with the position for a truncated body', async () => {
    server.serve('/cut', { headers: RSS_TYPE, body: rss.slice(0, 5000) });

    await expect(loadFeed(source, server.url('/cut'))).rejects.toSatisfy(
      (error) => error instanceof MalformedFeedError && error.line !== null,
    );
  });

  it('says an empty body is not a feed', async () => {
    server.serve('/empty', { headers: RSS_TYPE, body: '' });

    await expect(loadFeed(source, server.url('/empty'))).rejects.toBeInstanceOf(NotAFeedError);
  });
});
