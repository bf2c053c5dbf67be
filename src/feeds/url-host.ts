/** What a URL's host looks like when it can be read straight off the text of a WHATWG href. */
const PLAIN_HOST = /^[a-z0-9.-]+(?::\d+)?$/;

/** The host (and port, when not the default) of a web address, lower-cased; null when it has none. */
export function urlHost(url: string | null): string | null {
  if (!url) return null;
  // Stored URLs are WHATWG hrefs, so the host is the text between "//" and the next "/": read it
  // without building a URL on every poll. Anything unusual (IPv6, IDN, upper case, a default
  // port) goes through the URL parser.
  const start = url.startsWith('https://') ? 8 : url.startsWith('http://') ? 7 : -1;
  const end = start > 0 ? url.indexOf('/', start) : -1;
  if (end > start) {
    const host = url.slice(start, end);
    if (PLAIN_HOST.test(host) && !host.endsWith(':80') && !host.endsWith(':443')) return host;
  }
  try {
    return new URL(url).host || null;
  } catch {
    return null;
  }
}

/** The host of a web address, or the address itself when it has none (for messages and per-host limits). */
export function hostOf(url: string): string {
  return urlHost(url) ?? url;
}
