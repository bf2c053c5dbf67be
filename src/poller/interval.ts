/**
 * When to check a feed again after a successful fetch. Pure functions: the clock and the random
 * source come in as arguments so the scheduler (and tests) decide what "now" is.
 *
 * Decisions about the server's caching hints:
 * - `Cache-Control: max-age=N` lengthens the interval to N seconds. `max-age=0` simply does not
 *   lengthen it (the base interval still applies; a server cannot make Herald poll faster).
 * - `no-store` or an unqualified `no-cache` cancels the freshness hints (max-age and Expires): the
 *   server asks not to rely on a stored copy, so Herald does not stretch its interval on its word.
 *   A qualified `no-cache="Set-Cookie"` only concerns those fields and is ignored.
 * - `s-maxage` is ignored: it is addressed to shared caches (RFC 9111 §5.2.2.10) and Herald is a
 *   single client keeping its own copy.
 * - `Expires` counts only when there is no valid `max-age` (max-age takes precedence, RFC 9111
 *   §5.3); it is measured against Herald's clock because the scheduler has no `Date` header.
 * - `Retry-After` (delay-seconds or HTTP-date) always counts, whatever Cache-Control says.
 * - The feed's RSS `<ttl>` counts like the headers.
 * Anything malformed is ignored; nothing here throws on server input.
 */

/** The longest interval between two checks of a feed: a day. */
export const MAX_INTERVAL_SECONDS = 86_400;

/** Jitter applied to every interval: ±10 %, so feeds added together drift apart. */
export const JITTER_RATIO = 0.1;

/** What `computeNextCheck` needs to know about one successful fetch. */
export interface NextCheckInput {
  /** Current time in milliseconds since the epoch. */
  now: number;
  /** The configured base interval (POLL_INTERVAL_SECONDS). */
  baseSeconds: number;
  /** The floor for any interval (MIN_POLL_INTERVAL_SECONDS). */
  minSeconds: number;
  /** The ceiling for any interval; defaults to MAX_INTERVAL_SECONDS. */
  maxSeconds?: number;
  /** The feed's RSS `<ttl>` in seconds, or null. */
  ttlSeconds: number | null;
  cacheControl: string | null;
  expires: string | null;
  retryAfter: string | null;
  /** Uniform in [0, 1), like Math.random. */
  random: () => number;
}

/** When to check next, and the interval that led there. */
export interface NextCheck {
  /** Seconds from `now` to the next check, after clamping and jitter. */
  intervalSeconds: number;
  /** `now` plus the interval, in milliseconds since the epoch. */
  nextCheckAt: number;
}

/** Computes the next check of a feed that answered: the longest of the base and every server hint, clamped, with jitter. */
export function computeNextCheck(input: NextCheckInput): NextCheck {
  const { min, max } = bounds(input.minSeconds, input.maxSeconds);
  const candidates = [
    input.baseSeconds,
    input.ttlSeconds,
    cacheLifetimeSeconds(input.cacheControl, input.expires, input.now),
    parseRetryAfter(input.retryAfter, input.now),
  ];
  let longest = min;
  for (const candidate of candidates) {
    if (candidate !== null && Number.isFinite(candidate) && candidate > longest) longest = candidate;
  }
  const intervalSeconds = applyJitter(Math.min(longest, max), min, max, input.random);
  return { intervalSeconds, nextCheckAt: input.now + intervalSeconds * 1000 };
}

/** Picks when a newly added (or newly loaded) feed is first checked: anywhere in its first interval, so a restart does not fetch everything at once. */
export function firstCheckAt(input: { now: number; intervalSeconds: number; random: () => number }): number {
  const spread = Math.max(0, input.intervalSeconds) * 1000;
  return input.now + Math.floor(unit(input.random) * spread);
}

/**
 * Multiplies `seconds` by a random factor in [1 − JITTER_RATIO, 1 + JITTER_RATIO], rounds to whole
 * seconds and keeps the result within [min, max].
 */
export function applyJitter(
  seconds: number,
  minSeconds: number,
  maxSeconds: number,
  random: () => number,
): number {
  const { min, max } = bounds(minSeconds, maxSeconds);
  const factor = 1 + (unit(random) * 2 - 1) * JITTER_RATIO;
  const jittered = Math.round(seconds * factor);
  return Math.min(max, Math.max(min, jittered));
}

/**
 * How long the server says its answer stays fresh, in seconds (from max-age, else Expires), or null
 * when it says nothing usable. `no-store` / `no-cache` give 0.
 */
export function cacheLifetimeSeconds(
  cacheControl: string | null,
  expires: string | null,
  now: number,
): number | null {
  const directives = parseCacheControl(cacheControl);
  if (directives.noStore || directives.noCache) return 0;
  if (directives.maxAge !== null) return directives.maxAge;
  if (expires === null) return null;
  const at = parseHttpDate(expires, now);
  // An invalid Expires (often "0" or "-1") means "already expired" (RFC 9111 §5.3).
  if (at === null) return 0;
  return Math.max(0, (at - now) / 1000);
}

/** The directives of a Cache-Control header that matter to a poller. */
export interface CacheControlDirectives {
  /** First valid `max-age`, in seconds, or null. */
  maxAge: number | null;
  noStore: boolean;
  /** An unqualified `no-cache` (a field list only concerns those fields). */
  noCache: boolean;
}

const DIRECTIVE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?/g;

/** Reads the directives Herald uses from a Cache-Control header; unknown or malformed parts are skipped. */
export function parseCacheControl(header: string | null): CacheControlDirectives {
  const result: CacheControlDirectives = { maxAge: null, noStore: false, noCache: false };
  if (header === null) return result;
  let maxAgeSeen = false;
  for (const match of header.matchAll(DIRECTIVE)) {
    const name = (match[1] ?? '').toLowerCase();
    const quoted = match[2];
    const value = quoted ?? match[3];
    if (name === 'no-store') result.noStore = true;
    else if (name === 'no-cache' && value === undefined) result.noCache = true;
    else if (name === 'max-age' && !maxAgeSeen) {
      // RFC 9111 §4.2.1: with several max-age directives, the first one is used.
      maxAgeSeen = true;
      result.maxAge = parseDelaySeconds(value);
    }
  }
  return result;
}

/**
 * Reads a Retry-After header (delay-seconds or HTTP-date) as seconds from `now`; null when absent
 * or malformed. A date in the past gives 0.
 */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null) return null;
  const seconds = parseDelaySeconds(header);
  if (seconds !== null) return seconds;
  const at = parseHttpDate(header, now);
  if (at === null) return null;
  return Math.max(0, (at - now) / 1000);
}

function parseDelaySeconds(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const trimmed = raw.trim();
  if (!/^\d{1,15}$/.test(trimmed)) return null;
  return Number(trimmed);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const IMF_FIXDATE = /^[A-Za-z]{3},\s*(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+GMT$/;
const RFC_850 = /^[A-Za-z]+,\s*(\d{1,2})-([A-Za-z]{3})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+GMT$/;
const ASCTIME = /^[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})$/;

/**
 * Parses an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) to milliseconds
 * since the epoch; null otherwise. Stricter than Date.parse, which reads "abc 12" as a date.
 * `now` only places RFC 850's two-digit years in a century.
 */
export function parseHttpDate(raw: string, now: number): number | null {
  const text = raw.trim();
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(m[3], m[2], m[1], m[4], m[5], m[6]);
  m = RFC_850.exec(text);
  if (m) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years ahead belongs to the past century.
    const yy = Number(m[3]);
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    return utc(String(year), m[2], m[1], m[4], m[5], m[6]);
  }
  m = ASCTIME.exec(text);
  if (m) return utc(m[6], m[1], m[2], m[3], m[4], m[5]);
  return null;
}

function utc(
  year: string | undefined,
  month: string | undefined,
  day: string | undefined,
  hour: string | undefined,
  minute: string | undefined,
  second: string | undefined,
): number | null {
  const monthIndex = MONTHS.indexOf((month ?? '').toLowerCase());
  const [y, d, h, mi, s] = [year, day, hour, minute, second].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (monthIndex < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const ms = Date.UTC(y, monthIndex, d, h, mi, s);
  // Reject days that roll over into the next month (31 Feb).
  if (new Date(ms).getUTCDate() !== d) return null;
  return ms;
}

function bounds(minSeconds: number, maxSeconds: number | undefined): { min: number; max: number } {
  const min = Number.isFinite(minSeconds) && minSeconds > 0 ? minSeconds : 1;
  const requestedMax = maxSeconds ?? MAX_INTERVAL_SECONDS;
  const max = Number.isFinite(requestedMax) ? requestedMax : MAX_INTERVAL_SECONDS;
  // An operator floor above the ceiling wins: never poll more often than asked.
  return { min, max: Math.max(min, max) };
}

/** Keeps a random source within [0, 1) even if a caller passes something sloppy. */
function unit(random: () => number): number {
  const r = random();
  if (!Number.isFinite(r) || r < 0) return 0;
  return r >= 1 ? 1 - Number.EPSILON : r;
}
