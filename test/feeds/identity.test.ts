import { describe, expect, it } from 'vitest';
import {
  assignIdentities,
  canonicalLink,
  itemKeys,
  shortHash,
  type ItemDraft,
} from '../../src/feeds/identity';
import type { ItemText } from '../../src/feeds/types';

function draft(fields: Partial<ItemDraft>): ItemDraft {
  return {
    guid: null,
    title: null,
    link: null,
    published: null,
    author: null,
    categories: [],
    content: [],
    contentBase: null,
    image: null,
    ...fields,
  };
}

function text(value: string): ItemText[] {
  return [{ text: value, type: 'text' }];
}

function html(value: string): ItemText[] {
  return [{ text: value, type: 'html' }];
}

describe('canonicalLink', () => {
  it('lower-cases scheme and host but keeps the path as written', () => {
    expect(canonicalLink('HTTPS://Blog.EXAMPLE/Posts/One')).toBe('https://blog.example/Posts/One');
  });

  it('removes default ports and fragments', () => {
    expect(canonicalLink('https://x.example:443/a#comments')).toBe('https://x.example/a');
    expect(canonicalLink('http://x.example:80/a')).toBe('http://x.example/a');
    expect(canonicalLink('http://x.example:8080/a')).toBe('http://x.example:8080/a');
  });

  it('removes tracking parameters and keeps the others in order and encoding', () => {
    expect(
      canonicalLink(
        'https://x.example/p?utm_source=rss&id=7&fbclid=abc&q=a%20b&gclid=1&UTM_Medium=x&mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&igshid=5&dclid=6&msclkid=7',
      ),
    ).toBe('https://x.example/p?id=7&q=a%20b');
  });

  it('keeps ref, which some sites use to pick the content', () => {
    expect(canonicalLink('https://x.example/p?ref=main')).toBe('https://x.example/p?ref=main');
  });

  it('drops a query left empty and a trailing question mark', () => {
    expect(canonicalLink('https://x.example/p?utm_source=a&utm_medium=b')).toBe('https://x.example/p');
    expect(canonicalLink('https://x.example/p?')).toBe('https://x.example/p');
  });

  it('makes two spellings of the same link equal', () => {
    expect(canonicalLink('https://X.example/a?utm_campaign=z#top')).toBe(
      canonicalLink('https://x.example/a'),
    );
  });

  it('returns a string that is not a URL trimmed', () => {
    expect(canonicalLink('  not a url ')).toBe('not a url');
  });
});

describe('shortHash', () => {
  it('is 16 url-safe characters and stable', () => {
    expect(shortHash('hello')).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(shortHash('hello')).toBe(shortHash('hello'));
    expect(shortHash('hello')).not.toBe(shortHash('hello!'));
  });

  it('gives the keys earlier versions stored (sha256 of the UTF-8 text, base64url)', () => {
    expect(shortHash('https://x.example/a')).toBe('UYmg1mh-VPTVNY9N');
    expect(shortHash('Ünïcødé ☃')).toBe('kpz_gFwOTvZrajyP');
  });
});

describe('itemKeys', () => {
  it('gives guid, link and fingerprint keys, the guid first', () => {
    const [keys] = itemKeys([
      draft({ guid: 'a', link: 'https://x.example/a', title: 'A', published: '2024-01-01T00:00:00.000Z' }),
    ]);
    expect(keys?.map((key) => key.slice(0, 2))).toEqual(['g:', 'l:', 'f:']);
    expect(keys?.[0]).toBe(`g:${shortHash('a')}`);
    expect(keys?.[1]).toBe(`l:${shortHash('https://x.example/a')}`);
  });

  it('keys the same link spelled differently the same way', () => {
    const [a] = itemKeys([draft({ link: 'https://X.example/a?utm_source=rss#x' })]);
    const [b] = itemKeys([draft({ link: 'https://x.example/a' })]);
    expect(a).toEqual(b);
  });

  it('does not let a recurring undated title identify a post that has a guid or link', () => {
    const [lastWeek] = itemKeys([
      draft({ guid: 'w1', link: 'https://x.example/w1', title: 'Weekly update' }),
    ]);
    const [thisWeek] = itemKeys([
      draft({ guid: 'w2', link: 'https://x.example/w2', title: 'Weekly update' }),
    ]);
    expect(thisWeek!.some((key) => lastWeek!.includes(key))).toBe(false);
  });

  it('fingerprints titles regardless of case, spacing and Unicode form', () => {
    const [a] = itemKeys([draft({ title: 'Ｈello   World', published: '2024-01-01T00:00:00.000Z' })]);
    const [b] = itemKeys([draft({ title: 'hello world', published: '2024-01-01T00:00:00.000Z' })]);
    expect(a).toEqual(b);
  });

  it('does not use a guid shared by two items as identity for either', () => {
    const keys = itemKeys([
      draft({ guid: 'same', link: 'https://x.example/1' }),
      draft({ guid: 'same', link: 'https://x.example/2' }),
    ]);
    expect(keys.flat().some((key) => key.startsWith('g:'))).toBe(false);
    expect(keys[0]?.[0]).not.toBe(keys[1]?.[0]);
  });

  it('does not use a link shared by two items (the home page) as identity for either', () => {
    const keys = itemKeys([
      draft({ guid: '1', link: 'https://x.example/' }),
      draft({ guid: '2', link: 'https://x.example/' }),
    ]);
    expect(keys.flat().some((key) => key.startsWith('l:'))).toBe(false);
    expect(keys.map((k) => k[0])).toEqual([`g:${shortHash('1')}`, `g:${shortHash('2')}`]);
  });

  it('ignores an empty or blank guid', () => {
    const [keys] = itemKeys([draft({ guid: '   ', link: 'https://x.example/a' })]);
    expect(keys?.[0]?.startsWith('l:')).toBe(true);
  });

  it('falls back to a content key when an item has no guid, link, title or date', () => {
    const [keys] = itemKeys([draft({ content: text('Just words') })]);
    expect(keys).toHaveLength(1);
    expect(keys?.[0]?.startsWith('c:')).toBe(true);
  });

  it('makes a content key from what the item shows, its summary as markdown, as earlier versions stored it', () => {
    const [keys] = itemKeys([draft({ content: html('<p>Just <b>words</b></p>') })]);
    expect(keys).toEqual(['c:h8QCLJcWqr44LGkC']);
    const [same] = itemKeys([draft({ content: html('<div>Just <strong>words</strong></div>') })]);
    expect(same).toEqual(keys);
  });

  it('falls back to content keys when two items share every other key', () => {
    const keys = itemKeys([
      draft({ guid: 'x', title: 'Same', content: text('first body') }),
      draft({ guid: 'x', title: 'Same', content: text('second body') }),
    ]);
    expect(keys.map((k) => k[0]?.slice(0, 2))).toEqual(['c:', 'c:']);
    expect(keys[0]?.[0]).not.toBe(keys[1]?.[0]);
  });
});

describe('assignIdentities', () => {
  it('keeps both items that share a guid, with distinct ids', () => {
    const items = assignIdentities([
      draft({ guid: 'dup', title: 'One', link: 'https://x.example/1' }),
      draft({ guid: 'dup', title: 'Two', link: 'https://x.example/2' }),
    ]);
    expect(items.map((item) => item.title)).toEqual(['One', 'Two']);
    expect(new Set(items.map((item) => item.id)).size).toBe(2);
    expect(items.every((item) => item.id === item.keys[0])).toBe(true);
  });

  it('collapses an entry repeated byte for byte into one', () => {
    const entry = draft({ guid: 'g', title: 'Twice', link: 'https://x.example/t' });
    const items = assignIdentities([entry, { ...entry }, draft({ guid: 'h', title: 'Other' })]);
    expect(items.map((item) => item.title)).toEqual(['Twice', 'Other']);
    // With the repeat gone its guid is unique again and identifies it.
    expect(items[0]?.id).toBe(`g:${shortHash('g')}`);
  });

  it('collapses a repeated entry whose text differs only in markup that shows the same', () => {
    const entry = draft({ guid: 'g', title: 'Twice', content: html('<p>Same <b>words</b></p>') });
    const items = assignIdentities([
      entry,
      { ...entry, content: html('<div>Same <strong>words</strong></div>') },
      { ...entry, content: html('<p>Other words</p>') },
    ]);
    expect(items.map((item) => item.content)).toEqual([entry.content, html('<p>Other words</p>')]);
  });

  it('keeps repeated entries that differ only in the picture found in their HTML', () => {
    const entry = draft({
      title: 'Same',
      content: text('Same words'),
      imageHtml: ['<img src="https://x.example/1.png">'],
    });
    const items = assignIdentities([
      entry,
      { ...entry, imageHtml: ['<img src="https://x.example/2.png">'] },
      { ...entry, imageHtml: ['<p>Same words</p><img src="https://x.example/1.png">'] },
    ]);
    expect(items.map((item) => item.imageHtml)).toEqual([
      ['<img src="https://x.example/1.png">'],
      ['<img src="https://x.example/2.png">'],
    ]);
    expect(new Set(items.map((item) => item.id)).size).toBe(2);
  });

  it('fingerprints titles whatever their whitespace', () => {
    const [a] = itemKeys([draft({ title: 'Hello\tthere \n world', published: '2024-01-01T00:00:00.000Z' })]);
    const [b] = itemKeys([draft({ title: 'hello there world', published: '2024-01-01T00:00:00.000Z' })]);
    expect(a).toEqual(b);
  });

  it('gives distinct ids to every item of a fetch, in document order', () => {
    const drafts = [
      draft({ title: 'A' }),
      draft({ title: 'A', published: '2024-01-01T00:00:00.000Z' }),
      draft({ link: 'https://x.example/' }),
      draft({ link: 'https://x.example/', content: text('other') }),
      draft({ content: text('only a summary') }),
      draft({}),
    ];
    const items = assignIdentities(drafts);
    expect(items).toHaveLength(drafts.length);
    expect(new Set(items.map((item) => item.id)).size).toBe(drafts.length);
    expect(items.map((item) => item.content)).toEqual(drafts.map((d) => d.content));
  });
});
