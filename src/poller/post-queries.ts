import { UserFacingError } from '../errors';
import type { RecentItem, Store, Subscription } from '../store';
import { newestFirst } from './subscription-service';

/** Longest `/posts search` query accepted. */
export const MAX_SEARCH_QUERY_LENGTH = 100;

/** An item found for `/posts`, with the feed it came from. */
export interface FoundPost {
  item: RecentItem;
  feedTitle: string;
  feedUrl: string;
}

/** Read-only questions about a server's recent posts. */
export interface PostQueries {
  /** The newest items across the server's feeds, or one subscription's feed. */
  recent(guildId: string, options: { subscriptionId?: string | null; count: number }): Promise<FoundPost[]>;
  /**
   * Recent items whose title or the start of whose text (the excerpt kept with them) contains
   * every word of `query`, ignoring case and accents.
   */
  search(
    guildId: string,
    options: { query: string; subscriptionId?: string | null; limit: number },
  ): Promise<FoundPost[]>;
}

/** Builds the queries over the store's recent items (the last 50 per feed). */
export function createPostQueries(store: Pick<Store, 'subscriptions' | 'recent' | 'feeds'>): PostQueries {
  async function postsOf(guildId: string, subscriptionId: string | null | undefined): Promise<FoundPost[]> {
    let subscriptions: Subscription[];
    if (subscriptionId) {
      const subscription = await store.subscriptions.getForGuild(guildId, subscriptionId);
      if (!subscription) {
        throw new UserFacingError(
          `This server has no feed “${subscriptionId}”. Pick one from the list that appears as you type, or leave \`feed\` out to see posts from all of this server’s feeds.`,
        );
      }
      subscriptions = [subscription];
    } else {
      subscriptions = await store.subscriptions.listByGuild(guildId);
    }
    const urls = [...new Set(subscriptions.map((subscription) => subscription.feedUrl))];
    const found: FoundPost[] = [];
    const seenLinks = new Set<string>();
    for (const url of urls) {
      const [items, state] = await Promise.all([store.recent.get(url), store.feeds.get(url)]);
      for (const item of items) {
        // The same post syndicated by two feeds of one server is shown once.
        const identity = item.link ?? `${url}#${item.id}`;
        if (seenLinks.has(identity)) continue;
        seenLinks.add(identity);
        found.push({ item, feedTitle: state?.title ?? url, feedUrl: url });
      }
    }
    const order = new Map(newestFirst(found.map((post) => post.item)).map((item, index) => [item, index]));
    return found.sort((a, b) => order.get(a.item)! - order.get(b.item)!);
  }

  return {
    async recent(guildId, { subscriptionId, count }) {
      return (await postsOf(guildId, subscriptionId)).slice(0, count);
    },
    async search(guildId, { query, subscriptionId, limit }) {
      const words = fold(query).split(/\s+/).filter(Boolean);
      if (words.length === 0) throw new UserFacingError('Type at least one word to search for.');
      if (query.length > MAX_SEARCH_QUERY_LENGTH) {
        throw new UserFacingError(
          `That search is ${query.length} characters long; keep it under ${MAX_SEARCH_QUERY_LENGTH}.`,
        );
      }
      const posts = await postsOf(guildId, subscriptionId);
      return posts
        .filter(({ item }) => {
          const text = fold(`${item.title ?? ''} ${item.excerpt}`);
          return words.every((word) => text.includes(word));
        })
        .slice(0, limit);
    },
  };
}

/** Lower-cases and strips accents, so "Café" matches "cafe". */
export function fold(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}
