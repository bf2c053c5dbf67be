import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DESCRIPTION_LENGTH,
  DISCORD_LIMITS,
  EMBED_COLOR,
  embedLength,
  renderMessage,
  renderMinimalMessage,
} from '../../src/delivery/render';
import { parseFeed } from '../../src/feeds/parse';
import type { Feed, FeedItem, ItemText } from '../../src/feeds/types';

const feed: Feed = {
  url: 'https://blog.example/feed.xml',
  title: 'Example Blog',
  link: 'https://blog.example/',
  format: 'rss',
  description: null,
  author: null,
  ttlSeconds: null,
};

/** An item's text as a feed gives it in `<description>`. */
function html(text: string): ItemText[] {
  return [{ text, type: 'html' }];
}

function item(fields: Partial<FeedItem> = {}): FeedItem {
  return {
    id: 'g:abc',
    keys: ['g:abc'],
    guid: 'abc',
    title: 'Hello world',
    link: 'https://blog.example/hello',
    published: '2025-01-02T03:04:05.000Z',
    author: 'Ada',
    categories: [],
    content: html('<p>A short <a href="/more">summary</a>.</p>'),
    contentBase: 'https://blog.example/hello',
    image: 'https://blog.example/cover.png',
    ...fields,
  };
}

describe('renderMessage', () => {
  it('renders a linked title, the summary as markdown, author, timestamp, image and the feed in the footer', () => {
    expect(renderMessage(item(), feed)).toEqual({
      embeds: [
        {
          title: 'Hello world',
          url: 'https://blog.example/hello',
          color: EMBED_COLOR,
          description: 'A short [summary](https://blog.example/more).',
          author: { name: 'Ada' },
          timestamp: '2025-01-02T03:04:05.000Z',
          image: { url: 'https://blog.example/cover.png' },
          footer: { text: 'Example Blog' },
        },
      ],
      allowed_mentions: { parse: [] },
    });
  });

  it('lets exactly the subscription’s role be mentioned and nothing else', () => {
    const message = renderMessage(item({ content: html('<p>@everyone look</p>') }), feed, {
      mentionRoleId: '123456789012345678',
    });
    expect(message.content).toBe('<@&123456789012345678>');
    expect(message.allowed_mentions).toEqual({ parse: [], roles: ['123456789012345678'] });
  });

  it('escapes markdown in titles so feed text shows as written', () => {
    const message = renderMessage(item({ title: '**Big** news || @everyone' }), feed);
    const title = message.embeds?.[0]?.title ?? '';
    expect(title).not.toContain('**Big**');
    expect(title).not.toMatch(/(^|[^\\])\|\|/);
  });

  it('cuts long summaries at a word boundary to the default length', () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    const description =
      renderMessage(item({ content: html(`<p>${words}</p>`) }), feed).embeds?.[0]?.description ?? '';
    expect(description.length).toBeLessThanOrEqual(DEFAULT_DESCRIPTION_LENGTH);
    expect(description.endsWith('…')).toBe(true);
    expect(
      description
        .slice(0, -1)
        .split(' ')
        .every((word) => /^word\d+$/.test(word)),
    ).toBe(true);
  });

  it('holds every Discord limit, including the 6,000 total, for absurd input', () => {
    const huge = 'x'.repeat(10_000);
    const message = renderMessage(
      item({ title: huge, author: huge, content: html('long words '.repeat(1000)) }),
      { ...feed, title: huge },
      { descriptionLength: 4096 },
    );
    const embed = message.embeds![0]!;
    expect(embed.title!.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedTitle);
    expect(embed.author!.name.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedAuthorName);
    expect(embed.description!.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedDescription);
    expect(embed.footer!.text.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedFooterText);
    expect(embedLength(embed)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
  });

  it('gives an untitled item a title naming the feed, and leaves out what is missing', () => {
    const message = renderMessage(
      item({ title: null, link: null, content: [], author: null, published: null, image: null }),
      feed,
    );
    expect(message.embeds).toEqual([
      { title: 'New post in Example Blog', color: EMBED_COLOR, footer: { text: 'Example Blog' } },
    ]);
  });

  it('shows the first picture of the item’s HTML when the feed names none', () => {
    const embed = renderMessage(
      item({ image: null, imageHtml: ['<p>Text</p><img src="/img/inline.png">'] }),
      feed,
    ).embeds?.[0];
    expect(embed?.image).toEqual({ url: 'https://blog.example/img/inline.png' });
  });

  it('drops links and images that are not http(s)', () => {
    const embed = renderMessage(item({ link: 'javascript:alert(1)', image: 'file:///etc/passwd' }), feed)
      .embeds![0]!;
    expect(embed.url).toBeUndefined();
    expect(embed.image).toBeUndefined();
  });
});

describe('renderMinimalMessage', () => {
  it('keeps only the linked title, for when Discord refuses the full embed', () => {
    expect(renderMinimalMessage(item(), feed)).toEqual({
      embeds: [{ title: 'Hello world', url: 'https://blog.example/hello', color: EMBED_COLOR }],
      allowed_mentions: { parse: [] },
    });
  });
});

describe('seed feeds', () => {
  it.each(['hashnode-buddha-rss2.xml', 'hexo-bmwlog-atom.xml', 'devto-forem-rss2.xml'])(
    'renders every item of %s within Discord’s limits',
    async (name) => {
      const body = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
      const parsed = await parseFeed(body, { url: 'https://seed.example/feed' });
      for (const entry of parsed.items) {
        const embed = renderMessage(entry, parsed.feed).embeds![0]!;
        expect(embedLength(embed)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
        expect(embed.description?.length ?? 0).toBeLessThanOrEqual(DEFAULT_DESCRIPTION_LENGTH);
        expect(embed.title!.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedTitle);
      }
    },
  );
});
