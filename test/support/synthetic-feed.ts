/** One entry of a synthetic RSS feed. */
export interface SyntheticItem {
  guid?: string | null;
  title: string;
  link?: string | null;
  /** A date, written as RFC 822 in the feed. */
  published?: Date | null;
  author?: string;
  description?: string;
  image?: string;
}

/** Builds an RSS 2.0 document, newest item first as feeds usually list them. */
export function buildRss(options: {
  title: string;
  link?: string;
  items: readonly SyntheticItem[];
  ttlMinutes?: number;
}): string {
  const items = options.items
    .map((item) =>
      [
        '<item>',
        `<title>${escapeXml(item.title)}</title>`,
        item.link ? `<link>${escapeXml(item.link)}</link>` : '',
        item.guid ? `<guid isPermaLink="false">${escapeXml(item.guid)}</guid>` : '',
        item.published ? `<pubDate>${item.published.toUTCString()}</pubDate>` : '',
        item.author ? `<dc:creator>${escapeXml(item.author)}</dc:creator>` : '',
        item.description ? `<description>${escapeXml(item.description)}</description>` : '',
        item.image ? `<enclosure url="${escapeXml(item.image)}" type="image/png" length="0"/>` : '',
        '</item>',
      ].join(''),
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>${escapeXml(options.title)}</title>
<link>${escapeXml(options.link ?? 'https://synthetic.example/')}</link>
<description>Synthetic feed for tests</description>
${options.ttlMinutes ? `<ttl>${options.ttlMinutes}</ttl>` : ''}
${items}
</channel>
</rss>`;
}

/**
 * A feed that grows over time: `publish(n)` adds n posts on top, each with a guid, a link, a
 * date one minute after the previous post, an author and a cover image.
 */
export class GrowingFeed {
  private readonly posts: SyntheticItem[] = [];
  private clock: number;
  private readonly dated: boolean;

  /** With `dated: false` posts carry no pubDate, as some feeds publish them. */
  constructor(
    readonly title: string,
    private readonly base = 'https://synthetic.example',
    start = Date.UTC(2025, 0, 1),
    options: { dated?: boolean } = {},
  ) {
    this.clock = start;
    this.dated = options.dated ?? true;
  }

  /**
   * Adds `count` new posts and returns them, oldest first; `patch` overrides fields of each (say,
   * a guid several posts share).
   */
  publish(count: number, patch: Partial<SyntheticItem> = {}): SyntheticItem[] {
    const added: SyntheticItem[] = [];
    for (let i = 0; i < count; i++) {
      this.clock += 60_000;
      const n = this.posts.length + 1;
      const post: SyntheticItem = {
        guid: `${this.title}-post-${n}`,
        title: `${this.title} post ${n}`,
        link: `${this.base}/posts/${n}`,
        published: this.dated ? new Date(this.clock) : null,
        author: 'Grace Hopper',
        description: `<p>Summary of post ${n}.</p>`,
        image: `${this.base}/images/${n}.png`,
        ...patch,
      };
      this.posts.unshift(post);
      added.push(post);
    }
    return added;
  }

  /** Rewrites every guid (and optionally every link), as a feed does when its platform changes. */
  rekey(prefix: string, moveLinks = false): void {
    for (const post of this.posts) {
      post.guid = `${prefix}-${post.guid}`;
      if (moveLinks && post.link) post.link = post.link.replace(this.base, `${this.base}/${prefix}`);
    }
  }

  /** The newest `limit` posts as an RSS document. */
  xml(limit = 20): string {
    return buildRss({ title: this.title, items: this.posts.slice(0, limit) });
  }

  get items(): readonly SyntheticItem[] {
    return this.posts;
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
