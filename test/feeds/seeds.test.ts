import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeed } from '../../src/feeds/parse';
import { imageOf, summaryOf } from '../../src/feeds/summary';
import type { ParsedFeed } from '../../src/feeds/types';

function seed(name: string, url: string): Promise<ParsedFeed> {
  return parseFeed(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'), { url });
}

const hashnode = () => seed('hashnode-buddha-rss2.xml', 'https://blog.buddhag.com.np/rss.xml');
const hexo = () => seed('hexo-bmwlog-atom.xml', 'https://bmwant.link/atom.xml');
const devto = () => seed('devto-forem-rss2.xml', 'https://dev.to/feed/epam_india_python');

function expectSafeForDiscord({ items }: ParsedFeed): void {
  for (const item of items) {
    expect(new URL(item.link ?? '').protocol).toBe('https:');
    const image = imageOf(item);
    if (image !== null) expect(image).toMatch(/^https?:\/\//);
    const summary = summaryOf(item);
    if (summary !== null) {
      expect(summary).not.toMatch(/@(?:everyone|here)/);
      expect(summary).not.toContain('<@');
      expect(summary).not.toMatch(/\n{3}/);
      expect(summary).not.toMatch(/<img|<table|<p>/i);
    }
  }
  expect(new Set(items.map((item) => item.id)).size).toBe(items.length);
}

describe('seed: Hashnode RSS 2.0 (Buddha’s Blog)', () => {
  it('yields 13 items, the first "BGP: The Internet\'s Routing Protocol" by buddha gautam', async () => {
    const parsed = await hashnode();
    expect(parsed.feed).toMatchObject({ format: 'rss', title: "Buddha's Blog", ttlSeconds: 3600 });
    expect(parsed.items).toHaveLength(13);
    expect(parsed.items[0]).toMatchObject({
      title: "BGP: The Internet's Routing Protocol",
      published: '2025-09-03T03:01:52.000Z',
      author: 'buddha gautam',
      guid: 'https://blog.buddhag.com.np/bgp-the-internets-routing-protocol',
      link: 'https://blog.buddhag.com.np/bgp-the-internets-routing-protocol',
    });
  });

  it('uses the enclosure covers as images, whatever their declared type', async () => {
    const { items } = await hashnode();
    expect(imageOf(items[0]!)).toBe(
      'https://cdn.hashnode.com/res/hashnode/image/upload/v1766555778330/ab138b8f-2d73-48d6-aaf9-d8d2fa7d180a.png',
    );
    // A .webp cover declared as image/jpeg wins over the first <img> of the article.
    expect(imageOf(items[9]!)).toBe(
      'https://cdn.hashnode.com/res/hashnode/image/upload/v1720368205498/63b0fe0c-bea5-4617-8ca1-14756480f7e4.webp',
    );
  });

  it('has categories on some items and none on others', async () => {
    const { items } = await hashnode();
    expect(items[0]?.categories).toEqual([]);
    expect(items[1]?.categories).toEqual([
      'autonomous systems',
      'Internet Exchange',
      'Internet Service Providers',
    ]);
  });

  it('summarizes from the short description, not the full content', async () => {
    const { items } = await hashnode();
    const summary = summaryOf(items[0]!) ?? '';
    expect(summary).toMatch(/^Border Gateway Protocol \(BGP\) is the standardized routing protocol/);
    expect(summary.length).toBeLessThan(400);
  });

  it('is safe to show in Discord', async () => {
    expectSafeForDiscord(await hashnode());
  });
});

describe('seed: Hexo Atom 1.0 (bmwlog)', () => {
  it('yields 20 entries, the first "FastAPI middleware"', async () => {
    const parsed = await hexo();
    expect(parsed.feed).toMatchObject({
      format: 'atom',
      title: 'bmwlog',
      link: 'https://bmwant.link/',
      author: 'bmwant',
    });
    expect(parsed.items).toHaveLength(20);
    expect(parsed.items[0]).toMatchObject({
      title: 'FastAPI middleware',
      published: '2024-05-08T12:37:36.000Z',
      link: 'https://bmwant.link/fastapi-middleware/',
      guid: 'https://bmwant.link/fastapi-middleware/',
    });
  });

  it('gives entries without an author the feed’s author', async () => {
    const { items } = await hexo();
    expect(items.every((item) => item.author === 'bmwant')).toBe(true);
  });

  it('reads categories from their term attributes', async () => {
    const { items } = await hexo();
    expect(items[0]?.categories).toEqual(['python', 'web', 'framework', 'fastapi', 'middleware']);
  });

  it('resolves relative images in the content under https://bmwant.link/', async () => {
    const { items } = await hexo();
    expect(imageOf(items[1]!)).toBe('https://bmwant.link/images/python_channel.png');
    const images = items.map(imageOf).filter((image): image is string => image !== null);
    expect(images.length).toBeGreaterThan(10);
    expect(images.every((image) => image.startsWith('https://bmwant.link/'))).toBe(true);
  });

  it('is safe to show in Discord', async () => {
    expectSafeForDiscord(await hexo());
  });
});

describe('seed: Forem RSS 2.0 (dev.to)', () => {
  it('yields 12 items, the first "PEP 703 Explained: How Python Finally Removes the GIL" by Dineshsuriya D', async () => {
    const parsed = await devto();
    expect(parsed.feed).toMatchObject({
      format: 'rss',
      title: 'Forem: Python Discipline @EPAM India',
      link: 'https://forem.com/epam_india_python',
    });
    expect(parsed.items).toHaveLength(12);
    expect(parsed.items[0]).toMatchObject({
      title: 'PEP 703 Explained: How Python Finally Removes the GIL',
      published: '2025-12-08T16:21:56.000Z',
      author: 'Dineshsuriya D',
      categories: ['python', 'core'],
    });
  });

  it('has a different author per item', async () => {
    const { items } = await devto();
    expect(new Set(items.map((item) => item.author)).size).toBeGreaterThan(3);
  });

  it('turns the entity-escaped HTML description into markdown', async () => {
    const { items } = await devto();
    const summary = summaryOf(items[0]!) ?? '';
    expect(summary).toMatch(/^PEP 703 is one of the most transformative changes in CPython’s history\./);
    expect(summary).toContain('**true parallelism**');
    expect(summary).not.toContain('&lt;');
  });

  it('is safe to show in Discord', async () => {
    expectSafeForDiscord(await devto());
  });
});
