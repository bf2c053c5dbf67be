import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { liftTexts } from '../../src/feeds/lift-texts';
import { normalizeXmlFeed } from '../../src/feeds/normalize';
import { createXmlParser, parseFeed, readFeedXml } from '../../src/feeds/parse';
import type { ParsedFeed } from '../../src/feeds/types';

const FIXTURES = new URL('../fixtures/', import.meta.url);

function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/** A feed as Herald reads it (texts lifted), or the error it gives. */
async function readLifted(xml: string, format: 'rss' | 'atom' | 'rdf'): Promise<ParsedFeed | string> {
  try {
    return normalizeXmlFeed(await readFeedXml(xml), { url: 'https://feeds.example/feed', format });
  } catch (error) {
    return String(error);
  }
}

/** The same feed read by rss-parser from the whole document, as before lifting existed. */
async function readWhole(xml: string, format: 'rss' | 'atom' | 'rdf'): Promise<ParsedFeed | string> {
  try {
    return normalizeXmlFeed(await createXmlParser().parseString(xml), {
      url: 'https://feeds.example/feed',
      format,
    });
  } catch (error) {
    return String(error);
  }
}

function formatOf(xml: string): 'rss' | 'atom' | 'rdf' {
  if (/<feed[\s>]/.test(xml)) return 'atom';
  return /<rdf:RDF[\s>]/.test(xml) ? 'rdf' : 'rss';
}

async function expectSameReading(xml: string): Promise<void> {
  const format = formatOf(xml);
  expect(await readLifted(xml, format)).toEqual(await readWhole(xml, format));
}

function rss(items: string, head = ''): string {
  return `<?xml version="1.0"?>${head}<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title><link>https://feeds.example/</link>${items}</channel></rss>`;
}

function item(inner: string, n = 1): string {
  return `<item><title>Post ${n}</title><link>https://feeds.example/${n}</link><guid>id-${n}</guid>${inner}</item>`;
}

async function descriptionOf(xml: string): Promise<string | undefined> {
  const { items } = await parseFeed(xml, { url: 'https://feeds.example/feed' });
  return items[0]?.content[0]?.text;
}

/** Checks that a description is lifted, and reads as `expected` and as the whole document reads it. */
async function expectLiftedAs(description: string, expected: string): Promise<void> {
  const xml = rss(item(`<description>${description}</description>`));
  expect(liftTexts(xml)).not.toBeNull();
  await expectSameReading(xml);
  expect(await descriptionOf(xml)).toBe(expected);
}

describe('lifting long texts out of a feed before rss-parser reads it', () => {
  const xmlFixtures = readdirSync(FIXTURES).filter((name) => name.endsWith('.xml'));

  it.each(xmlFixtures)('reads %s to the same feed and items as reading the whole document', async (name) => {
    await expectSameReading(fixture(name));
  });

  it('hands rss-parser a skeleton a few per cent the size of a real feed full of HTML', () => {
    const sizes = ['devto-forem-rss2.xml', 'hashnode-buddha-rss2.xml', 'hexo-bmwlog-atom.xml'].map((name) => {
      const xml = fixture(name);
      return (liftTexts(xml)?.xml.length ?? xml.length) / xml.length;
    });
    for (const share of sizes) expect(share).toBeLessThan(0.06);
  });

  it('joins text and CDATA sections, a split "]]>" included, as xml2js does', async () => {
    await expectLiftedAs(
      'x &amp; y <![CDATA[<p>z</p>]]> w <![CDATA[a]]]]><![CDATA[>b]]>',
      'x & y <p>z</p> w a]]>b',
    );
  });

  it('decodes the usual escapes, leaving &amp;lt; as the text &lt;', async () => {
    await expectLiftedAs(
      '&lt;p&gt;&quot;q&quot; &apos;a&#39; &amp;lt;b&amp;gt;&lt;/p&gt;',
      '<p>"q" \'a\' &lt;b&gt;</p>',
    );
  });

  it('decodes character references and escapes in capitals as sax does', async () => {
    await expectLiftedAs('caf&#233; &#xE9;&#x1F600;&#00065; &AMP;amp;lt; &LT;', 'café é😀A &amp;lt; <');
  });

  it('leaves a text with a named HTML entity or a bad reference to sax', async () => {
    for (const text of ['a&nbsp;b', 'a &#0; b', 'a &#xZZ; b', 'AT&T is here']) {
      const xml = rss(item(`<description>${text}</description>`));
      expect(liftTexts(xml)).toBeNull();
      await expectSameReading(xml);
    }
  });

  it('leaves markup, comments and blank text inside an element where they are', async () => {
    const xml = rss(
      [
        item('<description><p>markup</p></description>', 1),
        item('<description>before<!-- note -->after</description>', 2),
        item('<description>   </description><content:encoded><![CDATA[ ]]></content:encoded>', 3),
        item('<description/>', 4),
      ].join(''),
    );
    expect(liftTexts(xml)).toBeNull();
    await expectSameReading(xml);
  });

  it('lifts nothing from comments, CDATA sections or attribute values of other elements', async () => {
    const xml = rss(
      item(
        '<!-- <description>in a comment</description> -->' +
          '<category domain="a > b <description>in an attribute</description>">c</category>' +
          '<dc:note><![CDATA[<description>in a CDATA section</description>]]></dc:note>' +
          '<description>the real one</description>',
      ),
    );
    const lifted = liftTexts(xml);
    expect(lifted?.xml).toContain('in a comment');
    expect(lifted?.xml).toContain('in an attribute');
    expect(lifted?.xml).toContain('in a CDATA section');
    expect(lifted?.xml).not.toContain('the real one');
    await expectSameReading(xml);
  });

  it('lifts only the named elements: media:description and a content inside markup stay', async () => {
    const xml = rss(
      item(
        '<media:description>media text</media:description><content:encoded>encoded</content:encoded>' +
          '<description>desc</description >',
      ),
    );
    const lifted = liftTexts(xml);
    expect(lifted?.xml).toContain('media text');
    expect(lifted?.xml).not.toContain('encoded</content:encoded>');
    await expectSameReading(xml);
  });

  it('reads a lower-case CDATA keyword as sax does', async () => {
    await expectSameReading(rss(item('<description><![cdata[<b>bold</b>]]></description>')));
  });

  it('lifts nothing from a document with a DOCTYPE, which may declare entities', () => {
    const xml = rss(item('<description>text</description>'), '<!DOCTYPE rss [<!ENTITY x "y">]>');
    expect(liftTexts(xml)).toBeNull();
  });

  it('keeps a feed text that imitates a token as it is', async () => {
    const forged = '\uE000abcdefgh:0\uE001';
    const xml = rss(`<item><title>${forged}</title><guid>g</guid><description>real</description></item>`);
    const { items } = await parseFeed(xml, { url: 'https://feeds.example/feed' });
    expect(items[0]?.title).toBe(forged);
    expect(items[0]?.content[0]?.text).toBe('real');
  });

  it('reports a broken document as reading the whole of it does, positions included', async () => {
    const xml = rss(item('<description>fine</description><title>unclosed', 1));
    const lifted = await readLifted(xml, 'rss');
    expect(typeof lifted).toBe('string');
    expect(lifted).toEqual(await readWhole(xml, 'rss'));
  });

  it('reads feeds edited at random inside their texts the same as reading the whole document', async () => {
    const bases = [
      'parse-atom03.xml',
      'parse-media-rss.xml',
      'parse-rss1-rdf.xml',
      'parse-atom-xml-base.xml',
    ].map(fixture);
    const snippets = [
      ...[
        '&amp;',
        '&lt;b&gt;',
        '&#65;',
        '&#x1F600;',
        '&#0065;',
        '&AMP;',
        '&Lt;',
        '&quot;',
        '&#39;',
        '&nbsp;',
      ],
      ...[
        '<![CDATA[x]]>',
        '<![CDATA[ ]]>',
        '<![CDATA[a]]]]><![CDATA[>b]]>',
        '<!-- c -->',
        '<?pi x?>',
        '<b>x</b>',
      ],
      ...[' ', '\n', '\r\n', '\uE000', '&#xD800;', '&#x10FFFF;', '&', '<', ']]>', '</description>', '"'],
    ];
    let seed = 20261123;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % below;
    };
    let read = 0;
    for (let variant = 0; variant < 400; variant++) {
      let xml = bases[random(bases.length)] ?? '';
      for (let edit = 0; edit <= random(3); edit++) {
        const texts = [...xml.matchAll(/<(description|summary|content|content:encoded)(\s[^>]*)?>/g)];
        const text = texts[random(texts.length)];
        const at = text ? (text.index ?? 0) + text[0].length + random(12) : random(xml.length);
        xml = xml.slice(0, at) + (snippets[random(snippets.length)] ?? '') + xml.slice(at);
      }
      const format = formatOf(xml);
      const lifted = await readLifted(xml, format);
      expect(lifted, xml).toEqual(await readWhole(xml, format));
      if (typeof lifted !== 'string' && liftTexts(xml) !== null) read++;
    }
    // Enough of the variants are still feeds, and lifted, for the comparison to mean something.
    expect(read).toBeGreaterThan(100);
  });
});
