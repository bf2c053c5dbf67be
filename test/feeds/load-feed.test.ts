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

/** A one-item RSS feed whose title is given as raw bytes, in whatever encoding the test needs. */
function rssWithTitleBytes(prolog: string, title: number[]): Buffer {
  return Buffer.concat([
    Buffer.from(`${prolog}<rss version="2.0"><channel><title>`),
    Buffer.from(title),
    Buffer.from(
      '</title><link>https://enc.example/</link><item><title>x</title><guid>1</guid></item></channel></rss>',
    ),
  ]);
}

// "Привет" in windows-1251, and "Café" in ISO-8859-1.
const PRIVET_1251 = [0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2];
const CAFE_LATIN1 = [0x43, 0x61, 0x66, 0xe9];

describe('loadFeed over HTTP: encodings and formats', () => {
  it.each([
    ['windows-1251 named only in the header', 'text/xml; charset=windows-1251', '', PRIVET_1251, 'Привет'],
    [
      'windows-1251 named only in the prolog',
      'text/xml',
      '<?xml version="1.0" encoding="windows-1251"?>',
      PRIVET_1251,
      'Привет',
    ],
    [
      'ISO-8859-1 named only in the header',
      'application/rss+xml; charset=ISO-8859-1',
      '',
      CAFE_LATIN1,
      'Café',
    ],
    [
      'ISO-8859-1 named only in the prolog',
      'application/rss+xml',
      '<?xml version="1.0" encoding="ISO-8859-1"?>',
      CAFE_LATIN1,
      'Café',
    ],
  ])('decodes %s', async (_name, contentType, prolog, title, expected) => {
    server.serve('/enc', {
      headers: { 'Content-Type': contentType },
      body: rssWithTitleBytes(prolog, title),
    });
    const outcome = await loadFeed(source, server.url('/enc'));
    expect(outcome.kind === 'parsed' && outcome.parsed.feed.title).toBe(expected);
  });

  it('strips a UTF-8 byte-order mark', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(rss)]);
    server.serve('/bom', { headers: RSS_TYPE, body });
    const outcome = await loadFeed(source, server.url('/bom'));
    expect(outcome.kind === 'parsed' && outcome.parsed.items).toHaveLength(13);
  });

  const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
  it.each([
    ['JSON Feed 1.1', 'parse-jsonfeed-1.1.json', 'application/feed+json', 'json'],
    ['RSS 1.0 (RDF)', 'parse-rss1-rdf.xml', 'application/rdf+xml', 'rdf'],
    ['Atom with an xhtml title', 'parse-atom-xhtml-title.xml', 'application/atom+xml', 'atom'],
  ])('parses %s served over HTTP', async (_name, file, contentType, format) => {
    server.serve('/typed', { headers: { 'Content-Type': contentType }, body: fixtureText(file) });
    const outcome = await loadFeed(source, server.url('/typed'));
    expect(outcome.kind === 'parsed' && outcome.parsed.feed.format).toBe(format);
    expect(outcome.kind === 'parsed' && outcome.parsed.items.length).toBeGreaterThan(0);
    const titles = outcome.kind === 'parsed' ? outcome.parsed.items.map((item) => item.title) : [];
    expect(
      titles.every((title) => title === null || (typeof title === 'string' && !title.includes('[object'))),
    ).toBe(true);
  });

  it('keeps the other entries when one has a bad date, with that date null', async () => {
    server.serve('/dates', { headers: RSS_TYPE, body: fixtureText('parse-bad-dates.xml') });
    const outcome = await loadFeed(source, server.url('/dates'));
    const dates = outcome.kind === 'parsed' ? outcome.parsed.items.map((item) => item.published) : [];
    expect(dates).toContain(null);
    expect(dates.some((date) => date !== null)).toBe(true);
  });

  it('keys items without guids, and keeps two items sharing a guid with distinct ids', async () => {
    server.serve('/noguid', { headers: RSS_TYPE, body: fixtureText('parse-no-guids.xml') });
    server.serve('/shared', { headers: RSS_TYPE, body: fixtureText('parse-shared-guid.xml') });
    const noGuid = await loadFeed(source, server.url('/noguid'));
    const shared = await loadFeed(source, server.url('/shared'));
    const noGuidItems = noGuid.kind === 'parsed' ? noGuid.parsed.items : [];
    const sharedItems = shared.kind === 'parsed' ? shared.parsed.items : [];
    expect(noGuidItems.every((item) => item.guid === null && item.keys.length > 0)).toBe(true);
    expect(sharedItems.filter((item) => item.guid === 'same')).toHaveLength(2);
    expect(new Set(sharedItems.map((item) => item.id)).size).toBe(sharedItems.length);
  });

  it('reads a body with an unescaped & without crashing', async () => {
    server.serve('/amp', { headers: RSS_TYPE, body: fixtureText('parse-bare-ampersand.xml') });
    const outcome = await loadFeed(source, server.url('/amp'));
    expect(outcome.kind === 'parsed' && outcome.parsed.feed.title).toBe('Q&A Weekly');
  });
});
