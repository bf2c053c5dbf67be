import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeedDate } from '../../src/feeds/dates';
import { parseFeed } from '../../src/feeds/parse';
import { imageOf, MAX_SUMMARY_SOURCE_CHARS, summaryOf } from '../../src/feeds/summary';

const FEED_URL = 'https://site.example/blog/feed.xml';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
}

function rss(items: string, channel = '<title>T</title><link>https://site.example/</link>'): string {
  return `<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>${channel}${items}</channel></rss>`;
}

function atom(entries: string, head = '<title>A</title><id>urn:a</id>'): string {
  return `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">${head}${entries}</feed>`;
}

async function firstItem(body: string, url = FEED_URL) {
  const { items } = await parseFeed(body, { url });
  const item = items[0];
  if (!item) throw new Error('no item');
  return item;
}

describe('parseFeedDate', () => {
  it.each([
    ['Wed, 03 Sep 2025 03:01:52 GMT', '2025-09-03T03:01:52.000Z'],
    ['Mon, 08 Dec 2025 16:21:56 +0000', '2025-12-08T16:21:56.000Z'],
    ['Tue, 02 Jan 2024 03:04:05 -0700 (PDT)', '2024-01-02T10:04:05.000Z'],
    ['Mon, 01 Jul 2024 12:00:00 CEST', '2024-07-01T10:00:00.000Z'],
    ['01 Jul 24 12:00 EST', '2024-07-01T17:00:00.000Z'],
    ['Tue, 2 January 2024 03:04:05', '2024-01-02T03:04:05.000Z'],
    ['2024-05-08T12:37:36.000Z', '2024-05-08T12:37:36.000Z'],
    ['2024-05-08T14:37:36+02:00', '2024-05-08T12:37:36.000Z'],
    ['2024-05-08T12:37:36.5+0000', '2024-05-08T12:37:36.500Z'],
    ['2024-01-02 03:04:05', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02', '2024-01-02T00:00:00.000Z'],
    ['  2024-01-02T03:04:05Z \n', '2024-01-02T03:04:05.000Z'],
    ['January 2, 2024 10:00 AM', '2024-01-02T10:00:00.000Z'],
    ['Tue,\t02 Jan  2024\n10:00:00   GMT', '2024-01-02T10:00:00.000Z'],
    ['2024-01-02\u00a003:04:05', '2024-01-02T03:04:05.000Z'],
  ])('reads %j as %s', (input, expected) => {
    expect(parseFeedDate(input)).toBe(expected);
  });

  it.each([
    [''],
    ['   '],
    ['not a date'],
    ['0001-01-01T00:00:00Z'],
    ['2024-02-31'],
    ['Sat, 31 Feb 2024 10:00:00 GMT'],
    ['Mon, 01 Foo 2024 00:00:00 GMT'],
  ])('reads %j as null', (input) => {
    expect(parseFeedDate(input)).toBeNull();
  });

  it('reads a missing value as null', () => {
    expect(parseFeedDate(null)).toBeNull();
    expect(parseFeedDate(undefined)).toBeNull();
  });
});

describe('normalize: titles', () => {
  it('makes RSS titles plain text: tags stripped, entities decoded, whitespace collapsed', async () => {
    const item = await firstItem(
      rss('<item><title>  Fish &amp;amp; &lt;b&gt;Chips&lt;/b&gt;\n  today </title></item>'),
    );
    expect(item.title).toBe('Fish & Chips today');
  });

  it('shows an Atom text title exactly as written', async () => {
    const item = await firstItem(
      atom('<entry><id>1</id><title>Use &lt;div&gt; &amp; friends</title></entry>'),
    );
    expect(item.title).toBe('Use <div> & friends');
  });

  it('gives an item without a title a null title', async () => {
    const item = await firstItem(rss('<item><link>https://site.example/x</link></item>'));
    expect(item.title).toBeNull();
  });
});

describe('normalize: dates', () => {
  it('uses dc:date when an RSS item has no pubDate', async () => {
    const item = await firstItem(
      rss('<item><title>x</title><dc:date>2024-03-04T05:06:07+01:00</dc:date></item>'),
    );
    expect(item.published).toBe('2024-03-04T04:06:07.000Z');
  });

  it('uses an Atom entry’s updated date when it has no published date', async () => {
    const item = await firstItem(atom('<entry><id>1</id><updated>2024-03-04T05:06:07Z</updated></entry>'));
    expect(item.published).toBe('2024-03-04T05:06:07.000Z');
  });

  it('reads an unparseable RSS date as null without losing the item', async () => {
    const { items } = await parseFeed(
      rss('<item><title>a</title><pubDate>someday</pubDate></item><item><title>b</title></item>'),
      { url: FEED_URL },
    );
    expect(items.map((item) => [item.title, item.published])).toEqual([
      ['a', null],
      ['b', null],
    ]);
  });
});

describe('normalize: links', () => {
  it('resolves relative links against the feed URL', async () => {
    const item = await firstItem(rss('<item><title>x</title><link>../posts/1</link></item>'));
    expect(item.link).toBe('https://site.example/posts/1');
  });

  it('resolves links, enclosures and content against xml:base', async () => {
    const { feed, items } = await parseFeed(fixture('parse-atom-xml-base.xml'), { url: FEED_URL });
    expect(feed.link).toBe('https://base.example/blog/');
    expect(items[0]?.link).toBe('https://base.example/blog/posts/1');
    expect(imageOf(items[0]!)).toBe('https://base.example/blog/img/cover.png');
    expect(summaryOf(items[0]!)).toBe('See [the other post](https://base.example/blog/other).');
    expect(items[1]?.link).toBe('https://cdn.base.example/x/y');
    expect(imageOf(items[1]!)).toBe('https://cdn.base.example/x/pic.jpg');
  });

  it('picks the Atom alternate link over replies, self and enclosure links', async () => {
    const item = await firstItem(
      atom(
        '<entry><id>1</id><link rel="replies" href="https://a.example/c"/><link rel="enclosure" href="https://a.example/e.mp3"/>' +
          '<link rel="alternate" type="application/pdf" href="https://a.example/p.pdf"/>' +
          '<link rel="alternate" type="text/html" href="https://a.example/page"/></entry>',
      ),
    );
    expect(item.link).toBe('https://a.example/page');
  });

  it('uses a permalink guid as the link when an RSS item has no <link>', async () => {
    const { items } = await parseFeed(
      rss(
        '<item><guid>https://site.example/p/1</guid></item>' +
          '<item><guid isPermaLink="false">https://site.example/p/2</guid></item>' +
          '<item><guid>post-3</guid></item>',
      ),
      { url: FEED_URL },
    );
    expect(items.map((item) => item.link)).toEqual(['https://site.example/p/1', null, null]);
  });

  it('drops links that are not http(s)', async () => {
    const item = await firstItem(rss('<item><title>x</title><link>javascript:alert(1)</link></item>'));
    expect(item.link).toBeNull();
  });

  it('keeps relative links null, without failing, when the feed came from a file', async () => {
    const item = await firstItem(rss('<item><title>x</title><link>/posts/1</link></item>'), './feed.xml');
    expect(item.link).toBeNull();
  });
});

describe('normalize: authors', () => {
  it('reads dc:creator', async () => {
    const item = await firstItem(rss('<item><title>x</title><dc:creator> Jane  Doe </dc:creator></item>'));
    expect(item.author).toBe('Jane Doe');
  });

  it('reads the name out of an RSS "email (Name)" author', async () => {
    const item = await firstItem(
      rss('<item><title>x</title><author>jane@example.com (Jane Doe)</author></item>'),
    );
    expect(item.author).toBe('Jane Doe');
  });

  it('falls back to the feed’s author when the item names none', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title></item>',
        '<title>T</title><managingEditor>ed@example.com (The Editor)</managingEditor>',
      ),
    );
    expect(item.author).toBe('The Editor');
  });

  it('prefers an Atom entry’s own author over the feed’s', async () => {
    const item = await firstItem(
      atom(
        '<entry><id>1</id><author><name>Entry Writer</name></author></entry>',
        '<title>A</title><author><name>Feed Writer</name></author>',
      ),
    );
    expect(item.author).toBe('Entry Writer');
  });
});

describe('normalize: categories', () => {
  it('reads RSS categories with and without attributes, trimmed, de-duplicated, empties dropped', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title><category>news</category><category domain="https://d.example"> tech </category>' +
          '<category>news</category><category>  </category><category/></item>',
      ),
    );
    expect(item.categories).toEqual(['news', 'tech']);
  });

  it('reads Atom categories from their term', async () => {
    const item = await firstItem(
      atom('<entry><id>1</id><category term="web" label="The Web"/><category term="js"/></entry>'),
    );
    expect(item.categories).toEqual(['web', 'js']);
  });
});

describe('normalize: summaries', () => {
  it('prefers the shorter description over the full content:encoded', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title><description>Teaser.</description>' +
          '<content:encoded><![CDATA[<p>The whole article.</p>]]></content:encoded></item>',
      ),
    );
    expect(summaryOf(item)).toBe('Teaser.');
  });

  it('falls back to content:encoded when the description is missing or empty', async () => {
    const { items } = await parseFeed(
      rss(
        '<item><title>a</title><content:encoded><![CDATA[<p>Full <b>text</b>.</p>]]></content:encoded></item>' +
          '<item><title>b</title><description>  </description><content:encoded>Body</content:encoded></item>',
      ),
      { url: FEED_URL },
    );
    expect(items.map(summaryOf)).toEqual(['Full **text**.', 'Body']);
  });

  it('prefers an Atom summary over its content, and falls back to the content', async () => {
    const { items } = await parseFeed(
      atom(
        '<entry><id>1</id><summary>Short</summary><content type="html">&lt;p&gt;Long&lt;/p&gt;</content></entry>' +
          '<entry><id>2</id><content type="html">&lt;p&gt;Only &lt;em&gt;content&lt;/em&gt;&lt;/p&gt;</content></entry>',
      ),
      { url: FEED_URL },
    );
    expect(items.map(summaryOf)).toEqual(['Short', 'Only *content*']);
  });

  it('treats an Atom text summary as text, not HTML', async () => {
    const item = await firstItem(
      atom('<entry><id>1</id><summary type="text">a &lt;b&gt; c *d*</summary></entry>'),
    );
    expect(summaryOf(item)).toBe('a <b\\> c \\*d\\*');
  });

  it('gives a null summary when the item has no text', async () => {
    const item = await firstItem(
      rss('<item><title>x</title><description><![CDATA[<img src="a.png">]]></description></item>'),
    );
    expect(summaryOf(item)).toBeNull();
  });

  it('bounds the summary of a very long article and keeps its markdown whole', async () => {
    const article = '<p><b>Bold words</b> and a <a href="https://x.example/">link</a>.</p>'.repeat(2000);
    const item = await firstItem(
      rss(`<item><title>x</title><description><![CDATA[${article}]]></description></item>`),
    );
    const summary = summaryOf(item) ?? '';
    expect(summary.startsWith('**Bold words** and a [link](https://x.example/).')).toBe(true);
    expect(summary.length).toBeLessThan(MAX_SUMMARY_SOURCE_CHARS);
    // Cut between elements, never inside one: the last paragraph ends whole or before its link.
    expect(summary).toMatch(/\n\n\*\*Bold words\*\* and a(?: \[link\]\(https:\/\/x\.example\/\)\.)?$/);
    expect((summary.match(/\*\*/g) ?? []).length % 2).toBe(0);
  });

  it('never lets a summary ping anyone', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title><description><![CDATA[<p>@everyone &lt;@123456789012345678&gt; @here ' +
          '&lt;@&amp;42&gt;</p><code>&lt;@1&gt;</code>]]></description></item>',
      ),
    );
    expect(summaryOf(item)).not.toMatch(/@(?:everyone|here)/);
    expect(summaryOf(item)).not.toContain('<@');
  });
});

describe('normalize: images', () => {
  it('finds images in enclosures, media:content, media:thumbnail, media:group, itunes:image and content', async () => {
    const { items } = await parseFeed(fixture('parse-media-rss.xml'), { url: FEED_URL });
    expect(items.map(imageOf)).toEqual([
      'https://media.example/thumb1.jpg',
      'https://media.example/2.jpg',
      'https://media.example/thumb3.png',
      'https://media.example/cover4.png',
      'https://media.example/posts/5/pic5.png',
      'https://media.example/6.JPG',
    ]);
  });

  it('resolves an image in the content against the item’s link', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title><link>https://other.example/posts/7/</link>' +
          '<description><![CDATA[<p><img src="cover.png"></p>]]></description></item>',
      ),
    );
    expect(imageOf(item)).toBe('https://other.example/posts/7/cover.png');
  });

  it('reads an Atom enclosure link with an image type as the picture', async () => {
    const item = await firstItem(
      atom('<entry><id>1</id><link rel="enclosure" type="image/png" href="https://a.example/pic"/></entry>'),
    );
    expect(imageOf(item)).toBe('https://a.example/pic');
  });

  it('keeps a picture the feed names in `image`, and one only in the HTML for imageOf, full content first', async () => {
    const { items } = await parseFeed(
      rss(
        '<item><title>a</title><link>https://site.example/a/</link>' +
          '<description><![CDATA[<img src="teaser.png">]]></description>' +
          '<content:encoded><![CDATA[<p>Text</p><img src="full.png">]]></content:encoded></item>' +
          '<item><title>b</title><link>https://site.example/b/</link>' +
          '<description><![CDATA[<img src="teaser.png">]]></description>' +
          '<enclosure url="https://cdn.site.example/b.jpg" type="image/jpeg" length="0"/></item>',
      ),
      { url: FEED_URL },
    );
    expect(items.map((item) => item.image)).toEqual([null, 'https://cdn.site.example/b.jpg']);
    expect(items.map(imageOf)).toEqual(['https://site.example/a/full.png', 'https://cdn.site.example/b.jpg']);
  });

  it('looks for an Atom picture in HTML content before the summary, never in plain text', async () => {
    const { items } = await parseFeed(
      atom(
        '<entry><id>1</id><link href="https://a.example/1/"/>' +
          '<summary type="html">&lt;img src="summary.png"&gt;</summary>' +
          '<content type="html">&lt;img src="content.png"&gt;</content></entry>' +
          '<entry><id>2</id><link href="https://a.example/2/"/>' +
          '<summary type="html">&lt;img src="summary.png"&gt;</summary>' +
          '<content>&lt;img src="text.png"&gt;</content></entry>',
      ),
      { url: FEED_URL },
    );
    expect(items.map(imageOf)).toEqual([
      'https://a.example/1/content.png',
      'https://a.example/2/summary.png',
    ]);
  });

  it('has no image when only data: URIs are offered', async () => {
    const item = await firstItem(
      rss(
        '<item><title>x</title><description><![CDATA[<img src="data:image/png;base64,AAAA">]]></description></item>',
      ),
    );
    expect(imageOf(item)).toBeNull();
  });
});

describe('normalize: the feed', () => {
  it('reads title, link, plain description and ttl in seconds', async () => {
    const { feed } = await parseFeed(
      rss(
        '',
        '<title> My  Feed </title><link>/</link><description><![CDATA[<p>About <b>us</b></p>]]></description><ttl>15</ttl>',
      ),
      { url: FEED_URL },
    );
    expect(feed).toEqual({
      url: FEED_URL,
      title: 'My Feed',
      link: 'https://site.example/',
      format: 'rss',
      description: 'About us',
      author: null,
      ttlSeconds: 900,
    });
  });

  it('names an untitled feed after its host and ignores a nonsense ttl', async () => {
    const { feed } = await parseFeed(rss('', '<ttl>soon</ttl>'), { url: FEED_URL });
    expect(feed).toMatchObject({ title: 'site.example', link: null, description: null, ttlSeconds: null });
  });

  it('keeps items in document order, not date order', async () => {
    const { items } = await parseFeed(
      rss(
        '<item><title>old</title><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>' +
          '<item><title>new</title><pubDate>Mon, 01 Jul 2024 00:00:00 GMT</pubDate></item>' +
          '<item><title>middle</title><pubDate>Mon, 01 Apr 2024 00:00:00 GMT</pubDate></item>',
      ),
      { url: FEED_URL },
    );
    expect(items.map((item) => item.title)).toEqual(['old', 'new', 'middle']);
  });
});
