import { Parser } from 'htmlparser2';

/** Paths tried on the page's origin when a page declares no feed. */
export const WELL_KNOWN_FEED_PATHS = [
  '/feed',
  '/rss',
  '/rss.xml',
  '/atom.xml',
  '/feed.xml',
  '/index.xml',
] as const;

const FEED_TYPES = new Set([
  'application/rss+xml',
  'application/atom+xml',
  'application/rdf+xml',
  'application/feed+json',
  'application/json',
  'application/xml',
  'text/xml',
]);

/**
 * The feed URLs a web page declares with `<link rel="alternate" type="…">`, absolute and in page
 * order (RSS, Atom, RDF and JSON Feed types), resolved against `<base href>` and the page URL.
 */
export function findFeedLinks(html: string, pageUrl: string): string[] {
  let base = pageUrl;
  const hrefs: string[] = [];
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'base' && attributes['href']) {
          base = resolve(attributes['href'], pageUrl) ?? base;
          return;
        }
        if (name !== 'link') return;
        const rel = (attributes['rel'] ?? '').toLowerCase().split(/\s+/);
        const type = (attributes['type'] ?? '').toLowerCase().split(';')[0]!.trim();
        const href = attributes['href']?.trim();
        if (rel.includes('alternate') && FEED_TYPES.has(type) && href) hrefs.push(href);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();

  const seen = new Set<string>();
  const links: string[] = [];
  for (const href of hrefs) {
    const url = resolve(href, base);
    if (url && !seen.has(url)) {
      seen.add(url);
      links.push(url);
    }
  }
  return links;
}

/** The well-known feed locations on the page's origin, in the order they are tried. */
export function wellKnownFeedUrls(pageUrl: string): string[] {
  const origin = new URL(pageUrl).origin;
  return WELL_KNOWN_FEED_PATHS.map((path) => `${origin}${path}`).filter((url) => url !== pageUrl);
}

function resolve(href: string, base: string): string | null {
  try {
    const url = new URL(href, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}
