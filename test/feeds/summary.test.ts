import { describe, expect, it } from 'vitest';
import {
  imageOf,
  itemTexts,
  MAX_SUMMARY_SOURCE_CHARS,
  summaryOf,
  textExcerpt,
} from '../../src/feeds/summary';
import type { ItemText } from '../../src/feeds/types';

const html = (text: string): ItemText => ({ text, type: 'html' });
const plain = (text: string): ItemText => ({ text, type: 'text' });

describe('summaryOf', () => {
  it('converts the first text to Discord markdown, resolving relative links against the item', () => {
    const item = {
      content: itemTexts([html('<p>A <b>bold</b> <a href="../other">link</a></p>'), html('<p>Full</p>')]),
      contentBase: 'https://blog.example/posts/1',
    };
    expect(summaryOf(item)).toBe('A **bold** [link](https://blog.example/other)');
  });

  it('falls back to the next text when one is blank or shows nothing (an image alone)', () => {
    const item = {
      content: itemTexts([plain('   \n'), html('<p><img src="a.png"></p>'), plain('Body *as written*')]),
      contentBase: null,
    };
    expect(summaryOf(item)).toBe('Body \\*as written\\*');
  });

  it('is null when no text shows anything', () => {
    expect(
      summaryOf({ content: itemTexts([html('<img src="a.png">'), plain('')]), contentBase: null }),
    ).toBeNull();
    expect(summaryOf({ content: [], contentBase: null })).toBeNull();
  });

  it('gives the same summary each time, for copies of the item too, and follows its base', () => {
    const content = itemTexts([html('<p>See <a href="next">the next one</a></p>')]);
    const item = { content, contentBase: 'https://a.example/' };
    expect(summaryOf(item)).toBe('See [the next one](https://a.example/next)');
    expect(summaryOf({ ...item })).toBe('See [the next one](https://a.example/next)');
    expect(summaryOf({ content, contentBase: 'https://b.example/' })).toBe(
      'See [the next one](https://b.example/next)',
    );
    expect(summaryOf(item)).toBe('See [the next one](https://a.example/next)');
  });
});

describe('imageOf', () => {
  it('is the picture the feed names, whatever the HTML holds', () => {
    expect(
      imageOf({
        image: 'https://cdn.example/named.png',
        imageHtml: ['<img src="a.png">'],
        contentBase: null,
      }),
    ).toBe('https://cdn.example/named.png');
  });

  it('else finds the first real picture in the HTML, in order, resolved against the item', () => {
    const item = {
      image: null,
      imageHtml: [
        '<p>No picture</p>',
        '<img width="1" src="pixel.gif"><img src="cover.png">',
        '<img src="late.png">',
      ],
      contentBase: 'https://blog.example/posts/1/',
    };
    expect(imageOf(item)).toBe('https://blog.example/posts/1/cover.png');
    expect(imageOf({ ...item })).toBe('https://blog.example/posts/1/cover.png');
    expect(imageOf({ ...item, contentBase: 'https://other.example/' })).toBe(
      'https://other.example/cover.png',
    );
  });

  it('is null without a picture, and the named one for items that keep no HTML', () => {
    expect(
      imageOf({ image: null, imageHtml: ['<img src="data:image/png;base64,AAAA">', ''], contentBase: null }),
    ).toBeNull();
    expect(imageOf({ image: null, contentBase: 'https://blog.example/' })).toBeNull();
    expect(imageOf({ image: 'https://cdn.example/a.png', contentBase: null })).toBe(
      'https://cdn.example/a.png',
    );
  });
});

describe('itemTexts', () => {
  it('leaves out blank texts and cuts long ones where a summary would: HTML before a tag, text between words', () => {
    const longHtml = `<p>${'word '.repeat(3000)}</p>`;
    const longText = 'word '.repeat(3000);
    const texts = itemTexts([plain(' '), html(longHtml), plain(longText), html('')]);
    expect(texts.map((text) => text.type)).toEqual(['html', 'text']);
    expect(texts[0]?.text.length).toBeLessThanOrEqual(MAX_SUMMARY_SOURCE_CHARS);
    expect(longHtml.startsWith(texts[0]?.text ?? '')).toBe(true);
    expect(texts[1]?.text.length).toBeLessThanOrEqual(MAX_SUMMARY_SOURCE_CHARS);
    expect(texts[1]?.text).toMatch(/^(?:word )+$/);
  });
});

describe('textExcerpt', () => {
  it('is the start of the text, tags stripped, entities decoded, whitespace collapsed, cut between words', () => {
    const item = {
      content: [
        html(
          '<h1>Caf&eacute;</h1><p>au <em>lait</em>,\n\n<strong>properly</strong></p><style>p { color: red }</style><ul><li>one</li><li>two</li></ul>',
        ),
      ],
    };
    expect(textExcerpt(item, 100)).toBe('Café au lait, properly one two');
    expect(textExcerpt(item, 16)).toBe('Café au lait,');
  });

  it('reads past markup-heavy openings to find enough text', () => {
    const svg = `<svg>${'<path d="M0 0"/>'.repeat(500)}</svg>`;
    const item = { content: [html(`${svg}<p>${'text '.repeat(200)}</p>`)] };
    expect(textExcerpt(item, 300)).toBe('text '.repeat(60).trim());
  });

  it('takes the first text that has any, and is empty when none has', () => {
    expect(textExcerpt({ content: [html('<img src="a.png">'), plain('  Plain\n text ')] }, 300)).toBe(
      'Plain text',
    );
    expect(textExcerpt({ content: [html('<p> </p>')] }, 300)).toBe('');
  });
});
