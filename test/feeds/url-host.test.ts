import { describe, expect, it } from 'vitest';
import { hostOf } from '../../src/feeds/url-host';

describe('hostOf', () => {
  it.each([
    'https://example.com/feed.xml',
    'http://127.0.0.2:8080/feeds/1.xml',
    'HTTPS://Example.COM/Feed',
    'http://example.com:80/rss',
    'https://example.com:443/rss',
    'https://blog.example.co.uk:8443/a/b?c=d#e',
    'http://[::1]:3000/feed',
    'https://bücher.example/feed',
    'https://example.com?feed=rss2',
    'https://user@example.com/feed',
  ])('names the same per-host limit for %s as the URL parser does', (url) => {
    expect(hostOf(url)).toBe(new URL(url).host.toLowerCase());
  });

  it('falls back to the text itself for something that is not a URL', () => {
    expect(hostOf('not a url')).toBe('not a url');
  });
});
