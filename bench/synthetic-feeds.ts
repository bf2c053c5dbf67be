/**
 * The benchmark's feeds: deterministic RSS 2.0 and Atom documents of about 30 KB with 20 items
 * each, spread over many loopback addresses. The feed server, the Herald worker and the baselines
 * all derive URLs, item links and bodies from here, so they agree without talking to each other.
 */

/** Items every feed lists (the newest ones). */
export const ITEMS_PER_FEED = 20;

/** Feeds served per loopback address: per-host limits then act as on the internet. */
export const FEEDS_PER_HOST = 50;

/** Subscriptions per Discord server (Herald's default MAX_FEEDS_PER_GUILD). */
export const FEEDS_PER_GUILD = 100;

/** Feeds announced in one channel; 10 channels per server. */
export const FEEDS_PER_CHANNEL = 10;

/** Feed indices of the delivery benchmark start here, apart from the polled ones. */
export const DELIVERY_FEED_BASE = 1_000_000;

/** Hours between two consecutive items of a feed. */
const ITEM_SPACING_MS = 3_600_000;

/** 127.0.0.2 + n: all of 127.0.0.0/8 is loopback on Linux, and a server on 0.0.0.0 answers every one. */
export function hostAddress(hostIndex: number): string {
  const value = 0x7f000002 + hostIndex;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The URL of feed `index` on the bench feed server listening on `port`. */
export function feedUrl(port: number, index: number): string {
  return `http://${hostAddress(Math.floor(index / FEEDS_PER_HOST))}:${port}/feeds/${index}.xml`;
}

/** The feed index of a request path, or null when the path is not a feed. */
export function feedIndexOfPath(path: string): number | null {
  const match = /^\/feeds\/(\d+)\.xml$/.exec(path);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/** One feed in five is Atom, the rest RSS 2.0. */
export function feedFormat(index: number): 'rss' | 'atom' {
  return index % 5 === 4 ? 'atom' : 'rss';
}

/** The page of item `n` (1-based, oldest first) of feed `index`: what Herald puts in the embed's URL. */
export function itemLink(index: number, n: number): string {
  return `https://blog${index}.example.com/${2020 + (n % 5)}/${slug(index, n)}-${n}`;
}

/** When item `n` of feed `index` was published, in ms; `epoch` is the same for every process of a run. */
export function itemPublished(epoch: number, index: number, n: number): number {
  return epoch + n * ITEM_SPACING_MS + (index % 3600) * 1000;
}

/** The body of feed `index` when it has published `count` items (it lists the newest 20). */
export function renderFeed(index: number, count: number, epoch: number): string {
  const first = Math.max(1, count - ITEMS_PER_FEED + 1);
  const numbers: number[] = [];
  for (let n = count; n >= first; n--) numbers.push(n);
  return feedFormat(index) === 'atom' ? renderAtom(index, numbers, epoch) : renderRss(index, numbers, epoch);
}

function renderRss(index: number, numbers: readonly number[], epoch: number): string {
  const site = `https://blog${index}.example.com/`;
  const items = numbers.map((n) => {
    const rng = random(index, n);
    const categories = pick(rng, CATEGORIES, 2)
      .map((c) => `<category>${c}</category>`)
      .join('');
    return `  <item>
    <title>${title(rng)}</title>
    <link>${itemLink(index, n)}</link>
    <guid isPermaLink="true">${site}?p=${n}</guid>
    <pubDate>${new Date(itemPublished(epoch, index, n)).toUTCString()}</pubDate>
    <dc:creator>${pick(rng, AUTHORS, 1)[0]}</dc:creator>
    ${categories}
    <description><![CDATA[${itemHtml(rng, index, n)}]]></description>
  </item>`;
  });
  const newest = numbers[0] ?? 0;
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>Notes from blog ${index}</title>
  <link>${site}</link>
  <atom:link href="${site}feed.xml" rel="self" type="application/rss+xml"/>
  <description>Writing about software, tools and the web, from blog number ${index}.</description>
  <language>en-us</language>
  <lastBuildDate>${new Date(itemPublished(epoch, index, newest)).toUTCString()}</lastBuildDate>
  <generator>bench</generator>
${items.join('\n')}
</channel>
</rss>
`;
}

function renderAtom(index: number, numbers: readonly number[], epoch: number): string {
  const site = `https://blog${index}.example.com/`;
  const entries = numbers.map((n) => {
    const rng = random(index, n);
    const published = new Date(itemPublished(epoch, index, n)).toISOString();
    const categories = pick(rng, CATEGORIES, 2)
      .map((c) => `<category term="${c}"/>`)
      .join('');
    return `  <entry>
    <title type="html">${title(rng)}</title>
    <link rel="alternate" type="text/html" href="${itemLink(index, n)}"/>
    <id>tag:blog${index}.example.com,2020:post-${n}</id>
    <published>${published}</published>
    <updated>${published}</updated>
    <author><name>${pick(rng, AUTHORS, 1)[0]}</name></author>
    ${categories}
    <summary type="html">${escapeXml(itemHtml(rng, index, n))}</summary>
  </entry>`;
  });
  const newest = numbers[0] ?? 0;
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Notes from blog ${index}</title>
  <subtitle>Writing about software, tools and the web, from blog number ${index}.</subtitle>
  <link rel="alternate" type="text/html" href="${site}"/>
  <link rel="self" type="application/atom+xml" href="${site}atom.xml"/>
  <id>tag:blog${index}.example.com,2020:feed</id>
  <updated>${new Date(itemPublished(epoch, index, newest)).toISOString()}</updated>
${entries.join('\n')}
</feed>
`;
}

/** About 1.2 KB of the HTML blogs put in descriptions: paragraphs, a link, emphasis, code, a picture. */
function itemHtml(rng: () => number, index: number, n: number): string {
  const paragraphs = pick(rng, PARAGRAPHS, 2);
  return (
    `<p><img src="https://blog${index}.example.com/images/${n}.jpg" alt="cover" width="800" height="450"/></p>` +
    paragraphs.map((p) => `<p>${p}</p>`).join('') +
    `<p><a href="${itemLink(index, n)}#more">Continue reading</a></p>`
  );
}

function title(rng: () => number): string {
  const words = pick(rng, WORDS, 5 + Math.floor(rng() * 5));
  const first = words[0] ?? 'Notes';
  return [first.charAt(0).toUpperCase() + first.slice(1), ...words.slice(1)].join(' ');
}

function slug(index: number, n: number): string {
  return pick(random(index, n + 7919), WORDS, 4).join('-');
}

/** A small deterministic generator (mulberry32) seeded by the feed and the item. */
function random(index: number, n: number): () => number {
  let state = (Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(n + 1, 0x85ebca77)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(rng: () => number, pool: readonly T[], count: number): T[] {
  const chosen: T[] = [];
  for (let i = 0; i < count; i++) chosen.push(pool[Math.floor(rng() * pool.length)]!);
  return chosen;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const WORDS = (
  'latency throughput cache index query schema migration release version server client socket ' +
  'thread process memory garbage compiler parser token stream buffer queue worker cluster shard ' +
  'replica leader follower consensus network packet router proxy gateway certificate browser ' +
  'renderer layout style script module package bundle library framework runtime kernel driver ' +
  'storage filesystem journal snapshot backup restore monitor metric alert dashboard incident ' +
  'deploy pipeline container image registry secret config feature flag rollout experiment user ' +
  'session cookie header payload request response timeout retry backoff limit quota budget cost ' +
  'design review refactor test fixture benchmark profile trace span log event handler callback ' +
  'promise async await iterator generator closure scope binding type interface contract protocol'
).split(' ');

const AUTHORS = [
  'Ada Lovelace',
  'Grace Hopper',
  'Alan Turing',
  'Barbara Liskov',
  'Edsger Dijkstra',
  'Margaret Hamilton',
  'Donald Knuth',
  'Frances Allen',
];

const CATEGORIES = ['engineering', 'databases', 'frontend', 'operations', 'security', 'tooling', 'notes'];

/** 64 paragraphs of about 350 characters with the inline markup blog posts carry. */
const PARAGRAPHS: readonly string[] = Array.from({ length: 64 }, (_, p) => {
  const rng = random(-1, p);
  const sentence = () => {
    const words = pick(rng, WORDS, 7 + Math.floor(rng() * 7));
    return `${words.join(' ')}.`;
  };
  const parts = [
    sentence(),
    `<strong>${sentence()}</strong>`,
    sentence(),
    `<code>${pick(rng, WORDS, 1)[0]}()</code>`,
  ];
  parts.push(
    `<em>${sentence()}</em>`,
    `see <a href="https://docs.example.org/${pick(rng, WORDS, 2).join('/')}">the docs</a>.`,
  );
  return parts.join(' ');
});
