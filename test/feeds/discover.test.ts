import { describe, expect, it } from 'vitest';
import { findFeedLinks, wellKnownFeedUrls } from '../../src/feeds/discover';

describe('findFeedLinks', () => {
  it('resolves relative alternate links against the page URL', () => {
    const html = `<!doctype html><html><head>
      <link rel="stylesheet" href="/style.css">
      <link rel="alternate" type="application/rss+xml" title="RSS" href="/index.xml">
      <link rel="alternate" type="application/atom+xml" href="atom.xml">
      <link rel="alternate" type="application/feed+json" href="//cdn.example.org/feed.json">
      <link rel="alternate" hreflang="fr" href="/fr/">
    </head><body></body></html>`;
    expect(findFeedLinks(html, 'https://example.com/blog/post.html')).toEqual([
      'https://example.com/index.xml',
      'https://example.com/blog/atom.xml',
      'https://cdn.example.org/feed.json',
    ]);
  });

  it('honours <base href> and upper-case markup', () => {
    const html = `<HTML><HEAD><BASE HREF="https://static.example.net/site/">
      <LINK REL="Alternate" TYPE="application/RSS+XML; charset=utf-8" HREF="feed.rss"></HEAD></HTML>`;
    expect(findFeedLinks(html, 'https://example.com/')).toEqual(['https://static.example.net/site/feed.rss']);
  });

  it('ignores non-feed alternates, javascript: links and duplicates', () => {
    const html = `<link rel="alternate" type="text/html" href="/amp">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
      <link rel="alternate" type="application/rss+xml" href="/rss">
      <link rel="alternate" type="application/rss+xml" href="https://example.com/rss">`;
    expect(findFeedLinks(html, 'https://example.com/')).toEqual(['https://example.com/rss']);
  });

  it('finds nothing on a page without feed links', () => {
    expect(
      findFeedLinks('<html><head><title>Hi</title></head><body>Hello</body></html>', 'https://a.example/'),
    ).toEqual([]);
  });
});

describe('wellKnownFeedUrls', () => {
  it('tries the usual feed paths on the page origin', () => {
    expect(wellKnownFeedUrls('https://example.com/blog/?page=2')).toEqual([
      'https://example.com/feed',
      'https://example.com/rss',
      'https://example.com/rss.xml',
      'https://example.com/atom.xml',
      'https://example.com/feed.xml',
      'https://example.com/index.xml',
    ]);
  });
});
