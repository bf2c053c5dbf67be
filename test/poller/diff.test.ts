import { describe, expect, it } from 'vitest';
import type { FeedItem } from '../../src/feeds/types';
import { diffItems, type DiffInput } from '../../src/poller/diff';

interface ItemSpec {
  guid?: string | null;
  link?: string | null;
  title?: string | null;
  published?: string | null;
}

/** Builds an item with keys shaped like the normalizer's: guid, canonical link, title + date fingerprint. */
function item(spec: ItemSpec): FeedItem {
  const guid = spec.guid ?? null;
  const link = spec.link ?? null;
  const title = spec.title ?? null;
  const published = spec.published ?? null;
  const keys = [
    ...(guid !== null ? [`g:${guid}`] : []),
    ...(link !== null ? [`l:${link}`] : []),
    ...(title !== null ? [`f:${title.toLowerCase()}|${published ?? ''}`] : []),
  ];
  return {
    id: keys[0] ?? 'none',
    keys,
    guid,
    title,
    link,
    published,
    author: null,
    categories: [],
    content: [],
    contentBase: null,
    image: null,
  };
}

/** Post n of a blog, dated n days into 2025. */
function post(n: number, overrides: ItemSpec = {}): FeedItem {
  return item({
    guid: `urn:post:${n}`,
    link: `https://blog.example/posts/${n}`,
    title: `Post ${n}`,
    published: new Date(Date.UTC(2025, 0, n, 9, 0, 0)).toISOString(),
    ...overrides,
  });
}

/** Posts from..to, newest first as most feeds list them. */
function newestFirst(from: number, to: number, make: (n: number) => FeedItem = post): FeedItem[] {
  const items: FeedItem[] = [];
  for (let n = to; n >= from; n--) items.push(make(n));
  return items;
}

function seenFrom(items: FeedItem[]): Set<string> {
  return new Set(items.flatMap((i) => i.keys));
}

function newestDate(items: FeedItem[]): string | null {
  const dates = items.map((i) => i.published).filter((d): d is string => d !== null);
  return dates.length === 0 ? null : dates.sort().at(-1)!;
}

/** A later fetch of a feed whose earlier fetch was `before`. */
function later(before: FeedItem[], items: FeedItem[], extra: Partial<DiffInput> = {}): DiffInput {
  return {
    items,
    seen: seenFrom(before),
    firstFetch: false,
    newestSeenPublished: newestDate(before),
    ...extra,
  };
}

const titles = (items: FeedItem[]) => items.map((i) => i.title);

describe('diffItems', () => {
  it('finds the items published since the last check and lists them oldest first', () => {
    const before = newestFirst(1, 10);
    const result = diffItems(later(before, newestFirst(4, 13)));
    expect(titles(result.fresh)).toEqual(['Post 11', 'Post 12', 'Post 13']);
    expect(result.rebaselined).toBe(false);
    expect(result.reason).toBeUndefined();
    expect(result.newestPublished).toBe(post(13).published);
  });

  it('lists new items oldest first for a feed that lists oldest first too', () => {
    const before = newestFirst(1, 10).reverse();
    const result = diffItems(later(before, newestFirst(3, 12).reverse()));
    expect(titles(result.fresh)).toEqual(['Post 11', 'Post 12']);
  });

  it('announces nothing on the first fetch but marks every key as seen', () => {
    const items = newestFirst(1, 10);
    const result = diffItems({ items, seen: new Set(), firstFetch: true, newestSeenPublished: null });
    expect(result.fresh).toEqual([]);
    expect(result.rebaselined).toBe(false);
    expect(new Set(result.allKeys)).toEqual(seenFrom(items));
    expect(result.newestPublished).toBe(post(10).published);
  });

  it('reports every key of the fetch once, so the caller can mark them all as seen', () => {
    const items = [post(2), post(1, { link: 'https://blog.example/posts/2' })];
    const result = diffItems(later([], items));
    expect(result.allKeys).toEqual([...new Set(items.flatMap((i) => i.keys))]);
  });

  it('announces nothing when only the guids change, because the links are still known', () => {
    const before = newestFirst(1, 10);
    const after = newestFirst(1, 10, (n) => post(n, { guid: `https://new-guid.example/${n}` }));
    const result = diffItems(later(before, after));
    expect(result.fresh).toEqual([]);
    expect(result.rebaselined).toBe(false);
  });

  it('re-baselines silently when a feed moves domain and rewrites every guid, link and title', () => {
    const before = newestFirst(1, 10);
    const after = newestFirst(1, 10, (n) =>
      post(n, {
        guid: `tag:new.example,2025:${n}`,
        link: `https://new.example/p/${n}`,
        title: `Post ${n} | Blog`,
      }),
    );
    const result = diffItems(later(before, after));
    expect(result.fresh).toEqual([]);
    expect(result.rebaselined).toBe(true);
    expect(result.reason).toMatch(/10 of 10 items/);
    expect(result.newestPublished).toBe(post(10).published);
  });

  it('still announces the genuinely newer posts that arrive with a re-key, and swallows the old ones', () => {
    const before = newestFirst(1, 10);
    const moved = (n: number) =>
      post(n, { guid: `m${n}`, link: `https://new.example/p/${n}`, title: `Moved ${n}` });
    const result = diffItems(later(before, newestFirst(3, 12, moved)));
    expect(titles(result.fresh)).toEqual(['Moved 11', 'Moved 12']);
    expect(result.rebaselined).toBe(true);
    expect(result.reason).toMatch(/8 of 10 items/);
  });

  it('announces all twelve when a feed genuinely publishes twelve new posts at once', () => {
    const before = newestFirst(1, 8);
    const result = diffItems(later(before, newestFirst(1, 20)));
    expect(result.fresh).toHaveLength(12);
    expect(titles(result.fresh)).toEqual(
      newestFirst(9, 20)
        .reverse()
        .map((i) => i.title),
    );
    expect(result.rebaselined).toBe(false);
  });

  it('announces both of two new posts that share a timestamp', () => {
    const before = newestFirst(1, 5);
    const stamp = new Date(Date.UTC(2025, 0, 6, 9, 0, 0)).toISOString();
    const twins = [post(7, { published: stamp }), post(6, { published: stamp })];
    const result = diffItems(later(before, [...twins, ...newestFirst(1, 5)]));
    expect(titles(result.fresh)).toEqual(['Post 6', 'Post 7']);
  });

  it('announces a new post that shares its timestamp with the newest post already seen', () => {
    const before = newestFirst(1, 5);
    const sameStamp = post(99, { published: post(5).published });
    const result = diffItems(later(before, [sameStamp, ...newestFirst(1, 5)]));
    expect(titles(result.fresh)).toEqual(['Post 99']);
  });

  it('announces a back-dated post that is not part of a re-key', () => {
    const before = newestFirst(1, 10);
    const backdated = post(50, { published: new Date(Date.UTC(2024, 5, 1)).toISOString() });
    const result = diffItems(later(before, [backdated, ...newestFirst(1, 10)]));
    expect(titles(result.fresh)).toEqual(['Post 50']);
    expect(result.newestPublished).toBe(post(10).published);
  });

  it('announces the one item an undated feed gains at the top', () => {
    const undated = (n: number) => post(n, { published: null });
    const before = newestFirst(1, 10, undated);
    const result = diffItems(later(before, newestFirst(2, 11, undated)));
    expect(titles(result.fresh)).toEqual(['Post 11']);
    expect(result.rebaselined).toBe(false);
    expect(result.newestPublished).toBeNull();
  });

  it('lists several new items of an undated feed oldest first, from the bottom of the document up', () => {
    const undated = (n: number) => post(n, { published: null });
    const before = newestFirst(1, 10, undated);
    const result = diffItems(later(before, newestFirst(1, 12, undated)));
    expect(titles(result.fresh)).toEqual(['Post 11', 'Post 12']);
  });

  it('re-baselines an undated feed whose every item changes identity', () => {
    const before = newestFirst(1, 10, (n) => post(n, { published: null }));
    const after = newestFirst(1, 10, (n) =>
      post(n, { published: null, guid: `x${n}`, link: `https://blog.example/?p=${n}`, title: `POST #${n}` }),
    );
    const result = diffItems(later(before, after));
    expect(result.fresh).toEqual([]);
    expect(result.rebaselined).toBe(true);
    expect(result.reason).toMatch(/no item was dated/);
  });

  it('announces every item of a feed that was empty until now', () => {
    const result = diffItems({
      items: newestFirst(1, 4),
      seen: new Set(),
      firstFetch: false,
      newestSeenPublished: null,
    });
    expect(titles(result.fresh)).toEqual(['Post 1', 'Post 2', 'Post 3', 'Post 4']);
    expect(result.rebaselined).toBe(false);
  });

  it('announces a post listed twice under different guids only once', () => {
    const before = newestFirst(1, 5);
    const twice = [post(6), post(6, { guid: 'duplicate-entry' }), ...newestFirst(1, 5)];
    const result = diffItems(later(before, twice));
    expect(result.fresh).toHaveLength(1);
    expect(result.fresh[0]?.guid).toBe('urn:post:6');
  });

  it('keeps an undated new item in its place among dated ones', () => {
    const before = newestFirst(1, 10);
    const items = [post(13), post(12, { published: null }), post(11), ...newestFirst(1, 10)];
    const result = diffItems(later(before, items));
    expect(titles(result.fresh)).toEqual(['Post 11', 'Post 12', 'Post 13']);
  });

  it('posts an undated newest item last in a feed that lists oldest first', () => {
    const before = newestFirst(1, 10).reverse();
    const items = [...newestFirst(1, 12).reverse(), post(13, { published: null })];
    const result = diffItems(later(before, items));
    expect(titles(result.fresh)).toEqual(['Post 11', 'Post 12', 'Post 13']);
  });

  it('does not let a far-future date become the newest date handled', () => {
    const now = Date.UTC(2025, 0, 20);
    const before = newestFirst(1, 10);
    const typo = post(11, { published: '2925-01-11T09:00:00.000Z' });
    const result = diffItems(later(before, [typo, ...newestFirst(1, 10)], { now }));
    expect(titles(result.fresh)).toEqual(['Post 11']);
    expect(result.newestPublished).toBe(post(10).published);
  });
});
