import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FeedError, MalformedFeedError, NotAFeedError } from '../../src/feeds/errors';
import { looksLikeHtmlPage, parseFeed } from '../../src/feeds/parse';
import { imageOf, summaryOf } from '../../src/feeds/summary';

const URL_ = 'https://feeds.example/feed';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
}

async function parseFixture(name: string, url = URL_) {
  return parseFeed(fixture(name), { url });
}

async function failure(body: string, contentType: string | null = null): Promise<unknown> {
  try {
    await parseFeed(body, { url: URL_, contentType });
  } catch (error) {
    return error;
  }
  throw new Error('expected parseFeed to fail');
}

describe('parseFeed: formats', () => {
  it('reads JSON Feed 1.1', async () => {
    const { feed, items } = await parseFixture('parse-jsonfeed-1.1.json');
    expect(feed).toMatchObject({
      format: 'json',
      title: 'Tiny <Loud> & Co',
      link: 'https://json.example/',
      description: 'A JSON Feed for tests.',
      author: 'Feed Owner',
      ttlSeconds: null,
    });
    expect(items.map((item) => item.guid)).toEqual(['post-2', 'post-1', '3', 'post-4']);
    expect(items[0]).toMatchObject({
      title: 'Second post',
      link: 'https://json.example/posts/2',
      published: '2024-03-02T08:00:00.000Z',
      author: 'Ada',
      categories: ['news', 'tests'],
      image: 'https://json.example/img/cover.jpg',
    });
  });

  it('reads a JSON Feed item’s external_url, content_html and date_modified when the rest is missing', async () => {
    const { items } = await parseFixture('parse-jsonfeed-1.1.json');
    expect(items[1]).toMatchObject({
      link: 'https://elsewhere.example/story',
      published: '2024-03-01T09:00:00.000Z',
      author: 'Feed Owner',
    });
    expect(imageOf(items[1]!)).toBe('https://cdn.json.example/first.webp');
    expect(summaryOf(items[1]!)).toBe('Only HTML, with a [relative link](https://elsewhere.example/more).');
  });

  it('uses content_text and image attachments, and reads a bad JSON Feed date as null', async () => {
    const { items } = await parseFixture('parse-jsonfeed-1.1.json');
    expect(items[2]).toMatchObject({
      title: null,
      published: null,
      image: 'https://json.example/a.png',
    });
    expect(summaryOf(items[2]!)).toBe('Plain text only.\n\nSecond paragraph \\# not a heading.');
  });

  it('skips JSON Feed items that are not objects and ignores fields of the wrong type', async () => {
    const { items } = await parseFixture('parse-jsonfeed-1.1.json');
    expect(items).toHaveLength(4);
    expect(items[3]).toMatchObject({
      guid: 'post-4',
      link: null,
      title: null,
    });
    expect(summaryOf(items[3]!)).toBe('Odd fields do not reject the feed.');
  });

  it('reads JSON Feed 1.0 with a single author object', async () => {
    const { feed, items } = await parseFixture('parse-jsonfeed-1.0.json');
    expect(feed).toMatchObject({ format: 'json', title: 'Old Style', author: 'Single Author' });
    expect(items.map((item) => item.author)).toEqual(['Single Author', 'Guest']);
    expect(items[0]?.published).toBe('2019-05-06T07:08:09.000Z');
  });

  it('reads RSS 1.0 (RDF) with Dublin Core dates and creators', async () => {
    const { feed, items } = await parseFixture('parse-rss1-rdf.xml');
    expect(feed).toMatchObject({
      format: 'rdf',
      title: 'RDF Site',
      link: 'https://rdf.example/',
      author: 'Channel Person',
    });
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({
      guid: 'https://rdf.example/a',
      title: 'RDF item A',
      link: 'https://rdf.example/a',
      published: '2023-07-01T10:00:00.000Z',
      author: 'Item Person',
      categories: ['semantics'],
    });
    expect(summaryOf(items[0]!)).toBe('First *RDF* item.');
    expect(items[1]).toMatchObject({ published: '2023-06-30T00:00:00.000Z', author: 'Channel Person' });
  });

  it('reads RSS 0.91', async () => {
    const { feed, items } = await parseFixture('parse-rss091.xml');
    expect(feed).toMatchObject({ format: 'rss', title: 'Netscape Era', link: 'http://old.example/' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      title: 'Ninety-one',
      link: 'http://old.example/91',
      guid: null,
      published: null,
    });
  });

  it('reads an <rss> without a version attribute as RSS 2.0', async () => {
    const { feed, items } = await parseFixture('parse-rss-no-version.xml');
    expect(feed).toMatchObject({ format: 'rss', title: 'No Version', ttlSeconds: 1800 });
    expect(items[0]).toMatchObject({ guid: 'nover-1', published: '2024-01-02T03:04:05.000Z' });
  });

  it('reads Atom 0.3 with issued dates, tagline and escaped content', async () => {
    const { feed, items } = await parseFixture('parse-atom03.xml');
    expect(feed).toMatchObject({
      format: 'atom',
      title: 'Atom Zero Three',
      link: 'https://a03.example/',
      description: 'The old Atom',
      author: 'Old Atom Author',
    });
    expect(items[0]).toMatchObject({
      guid: 'tag:a03.example,2005:1',
      link: 'https://a03.example/legacy',
      published: '2005-01-01T15:00:00.000Z',
      author: 'Old Atom Author',
    });
    expect(summaryOf(items[0]!)).toBe('Escaped **HTML** content.');
  });

  it('reads Atom xhtml titles as their text, in order', async () => {
    const { feed, items } = await parseFixture('parse-atom-xhtml-title.xml');
    expect(feed.title).toBe('XHTML Feed');
    expect(items.map((item) => item.title)).toEqual(['An emphasized title', 'Tom & Jerry bold']);
  });

  it('tells the content type apart from the body: an RSS body served as text/html is still read', async () => {
    const { feed } = await parseFeed(fixture('parse-rss-no-version.xml'), {
      url: URL_,
      contentType: 'text/html; charset=utf-8',
    });
    expect(feed.title).toBe('No Version');
  });

  it('reads a body with a byte order mark', async () => {
    const { feed } = await parseFeed(`\uFEFF${fixture('parse-rss091.xml')}`, { url: URL_ });
    expect(feed.title).toBe('Netscape Era');
  });
});

describe('parseFeed: robustness', () => {
  it('keeps a feed with one bad date: that item’s date is null, the others parse', async () => {
    const { items } = await parseFixture('parse-bad-dates.xml');
    expect(items.map((item) => [item.title, item.published])).toEqual([
      ['Good', '2024-01-05T06:07:08.000Z'],
      ['Bad', null],
      ['Padded', '2024-01-03T00:00:00.000Z'],
      ['Blank', '2024-01-02T00:00:00.000Z'],
      ['Zone name', '2024-07-01T10:00:00.000Z'],
      ['No zone', '2024-01-02T03:04:05.000Z'],
    ]);
  });

  it('keys items without guids by link and fingerprint', async () => {
    const { items } = await parseFixture('parse-no-guids.xml');
    expect(items.map((item) => item.keys.map((key) => key.slice(0, 2)))).toEqual([
      ['l:', 'f:'],
      // Undated: a title alone recurs ("Weekly update"), so the link is the only identity.
      ['l:'],
      ['f:'],
    ]);
    expect(items.every((item) => item.guid === null)).toBe(true);
  });

  it('keeps two items that share a guid, with distinct ids, and reads an empty guid as null', async () => {
    const { items } = await parseFixture('parse-shared-guid.xml');
    expect(items.map((item) => item.title)).toEqual(['Alpha', 'Beta', 'Gamma', 'Home one', 'Home two']);
    expect(items.map((item) => item.guid)).toEqual(['same', 'same', null, 'h1', 'h2']);
    expect(new Set(items.map((item) => item.id)).size).toBe(5);
    expect(items[0]?.keys.some((key) => key.startsWith('g:'))).toBe(false);
    // Both "Home" items link to the home page, so the link identifies neither.
    expect(items[3]?.keys.some((key) => key.startsWith('l:'))).toBe(false);
  });

  it('reads an unescaped & as the ampersand that was meant', async () => {
    const { feed, items } = await parseFixture('parse-bare-ampersand.xml');
    expect(feed.title).toBe('Q&A Weekly');
    expect(items[0]).toMatchObject({
      title: 'Tips & tricks & more',
      link: 'https://qa.example/tips?x=1&y=2',
    });
    expect(summaryOf(items[0]!)).toBe('Raw & fine in CDATA: [link](https://qa.example/?p=1&q=2)');
  });

  it('keeps items whose content uses an unusual namespace prefix, without that content', async () => {
    const { items } = await parseFixture('parse-other-prefixes.xml');
    expect(items).toHaveLength(1);
    expect(items[0]?.title).toBe('Prefixed');
    expect(summaryOf(items[0]!)).toBe('The teaser survives.');
  });

  it('reads the xhtml-free parts of an Atom entry whose <link> has text instead of attributes', async () => {
    const body =
      '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>' +
      '<entry><title>E</title><id>urn:e</id><link>https://links.example/e</link></entry></feed>';
    const { items } = await parseFeed(body, { url: URL_ });
    expect(items[0]).toMatchObject({ title: 'E', link: 'https://links.example/e' });
  });

  it('reads Atom links written as text, empty or in CDATA, and leaves other links and content alone', async () => {
    const body = [
      '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:a="http://www.w3.org/2005/Atom"><title>T</title>',
      '<link>\n  https://site.example/?a=1&amp;b="2"\n</link>',
      '<entry><title>Empty</title><id>urn:1</id><link/><link >  </link></entry>',
      '<entry><title>CDATA</title><id>urn:2</id><link><![CDATA[https://links.example/?q=<1>&r="2"]]></link></entry>',
      '<entry><title>Prefixed</title><id>urn:3</id><a:link>https://prefixed.example/</a:link></entry>',
      '<entry><title>Attributes</title><id>urn:4</id><link rel="alternate" href="https://attr.example/"/>',
      '<link rel="related">https://ignored.example/</link></entry>',
      '<entry><title>Content</title><id>urn:5</id><link href="https://c.example/"/>',
      '<content type="html"><![CDATA[<p>See <link>this</link> and <a href="/x">that</a></p>]]></content></entry>',
      '</feed>',
    ].join('\n');
    const { feed, items } = await parseFeed(body, { url: URL_ });
    expect(feed.link).toBe('https://site.example/?a=1&b=%222%22');
    expect(items.map((item) => item.link)).toEqual([
      null,
      'https://links.example/?q=%3C1%3E&r=%222%22',
      null,
      'https://attr.example/',
      'https://c.example/',
    ]);
    expect(summaryOf(items[4]!)).toBe('See this and [that](https://c.example/x)');
  });

  it('still points at the right line of a broken Atom feed after reading a text link', async () => {
    const body = [
      '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>',
      '<link>https://site.example/',
      '</link>',
      '<entry><title>Broken</entry>',
      '</feed>',
    ].join('\n');
    const error = await failure(body);
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect((error as MalformedFeedError).line).toBe(4);
  });
});

describe('parseFeed: errors', () => {
  it('says an empty body is not a feed', async () => {
    const error = await failure('   \n');
    expect(error).toBeInstanceOf(NotAFeedError);
    expect((error as Error).message).toContain('empty');
  });

  it('says plain text is not a feed', async () => {
    expect(await failure('Hello, this is not XML.', 'text/plain')).toBeInstanceOf(NotAFeedError);
  });

  it('says an HTML page is not a feed', async () => {
    const error = await failure(fixture('parse-html-page.html'), 'text/html');
    expect(error).toBeInstanceOf(NotAFeedError);
    expect((error as Error).message).toContain('HTML page');
  });

  it('says XML with another root element is not a feed', async () => {
    expect(await failure('<?xml version="1.0"?><opml version="2.0"><body/></opml>')).toBeInstanceOf(
      NotAFeedError,
    );
  });

  it('says JSON that is not a JSON Feed is not a feed', async () => {
    expect(await failure('{"name": "package"}', 'application/json')).toBeInstanceOf(NotAFeedError);
    expect(await failure('[1, 2, 3]')).toBeInstanceOf(NotAFeedError);
  });

  it('reports a truncated body as malformed, with a 1-based position', async () => {
    const error = await failure(fixture('parse-truncated.xml'));
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect(error).toMatchObject({ line: 5, kind: 'malformed' });
    expect((error as MalformedFeedError).column).toBeGreaterThan(0);
  });

  it('reports an ampersand that cannot be repaired (an unknown entity) as malformed with its position', async () => {
    const error = await failure(
      '<?xml version="1.0"?>\n<rss version="2.0">\n<channel><title>&bogus; x</title></channel></rss>',
    );
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect(error).toMatchObject({ line: 3 });
  });

  it('reports <rss> without <channel> as malformed', async () => {
    const error = await failure(fixture('parse-rss-without-channel.xml'));
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect((error as Error).message).toContain('<channel>');
  });

  it('reports a feed preceded by stray text as malformed, not as "not a feed"', async () => {
    const error = await failure(
      'Warning: something\n<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
    );
    expect(error).toBeInstanceOf(MalformedFeedError);
  });

  it('reports broken JSON as malformed with the line and column of the problem', async () => {
    const error = await failure('{\n  "version": "https://jsonfeed.org/version/1.1",\n  "items": [,]\n}');
    expect(error).toBeInstanceOf(MalformedFeedError);
    expect(error).toMatchObject({ line: 3, column: 13 });
  });

  it('reports truncated JSON as malformed at its end', async () => {
    const body = '{"version": "https://jsonfeed.org/version/1.1", "items": [';
    expect(await failure(body)).toMatchObject({ line: 1, column: body.length + 1 });
  });

  it('reports a JSON Feed without items as malformed', async () => {
    expect(await failure('{"version": "https://jsonfeed.org/version/1.1", "title": "x"}')).toBeInstanceOf(
      MalformedFeedError,
    );
  });

  it('throws only feed errors, whatever the body', async () => {
    const bodies = [
      '<rss>',
      '<rss version="2.0"><channel><item>',
      '<feed xmlns="http://www.w3.org/2005/Atom"><entry><link/></entry>',
      '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"></rdf:RDF>',
      '<a:feed xmlns:a="http://www.w3.org/2005/Atom"></a:feed>',
      '<?xml version="1.0"?>',
      '<!-- only a comment -->',
      '{"version": "https://jsonfeed.org/version/1", "items": "nope"}',
      'null',
      '{',
      '\u0000\u0001',
    ];
    for (const body of bodies) {
      const outcome = await parseFeed(body, { url: URL_ }).then(
        () => null,
        (error: unknown) => error,
      );
      if (outcome !== null) expect(outcome, body).toBeInstanceOf(FeedError);
    }
  });
});

describe('looksLikeHtmlPage', () => {
  it('recognizes HTML pages by their doctype or root element', () => {
    expect(looksLikeHtmlPage(fixture('parse-html-page.html'), null)).toBe(true);
    expect(looksLikeHtmlPage('<html><body>hi</body></html>', null)).toBe(true);
  });

  it('trusts a feed body over a text/html content type', () => {
    expect(looksLikeHtmlPage(fixture('parse-rss091.xml'), 'text/html')).toBe(false);
    expect(looksLikeHtmlPage(fixture('parse-jsonfeed-1.0.json'), 'text/html')).toBe(false);
  });

  it('believes a text/html content type when the body is no feed', () => {
    expect(looksLikeHtmlPage('Welcome to my site', 'text/html; charset=utf-8')).toBe(true);
    expect(looksLikeHtmlPage('Welcome to my site', 'text/plain')).toBe(false);
  });
});
