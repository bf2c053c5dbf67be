import type { FeedItem } from '../../src/feeds/types';

/** A normalized item for the store's tests: its id is its only identity key, its link made from it. */
export function storedItem(
  id: string,
  published: string | null = null,
  fields: Partial<FeedItem> = {},
): FeedItem {
  return {
    id,
    keys: [id],
    guid: id,
    title: id,
    link: `https://example.com/${id}`,
    published,
    author: null,
    categories: [],
    content: [],
    contentBase: null,
    image: null,
    ...fields,
  };
}
