/**
 * Feed dates, read the way publishers actually write them. `new Date()` is not enough: it rejects
 * zone names such as "CEST" and reads a zone-less `2024-01-02 03:04:05` as the server's local time,
 * which would make the same feed yield different dates on different machines.
 */

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

/**
 * Zone abbreviations seen in feeds, in minutes east of UTC. Where an abbreviation is ambiguous the
 * RFC 822 meaning wins (CST is US Central), then the most common one in feeds (IST is India).
 */
const ZONES: Readonly<Record<string, number>> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  WET: 0,
  WEST: 60,
  BST: 60,
  CET: 60,
  CEST: 120,
  MET: 60,
  MEST: 120,
  EET: 120,
  EEST: 180,
  MSK: 180,
  IST: 330,
  PKT: 300,
  ICT: 420,
  WIB: 420,
  HKT: 480,
  SGT: 480,
  AWST: 480,
  JST: 540,
  KST: 540,
  ACST: 570,
  ACDT: 630,
  AEST: 600,
  AEDT: 660,
  NZST: 720,
  NZDT: 780,
  AST: -240,
  ADT: -180,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  AKST: -540,
  AKDT: -480,
  HST: -600,
};

/** Dates before this year are placeholders (Go's zero time, `0000-00-00`), not publication dates. */
const EARLIEST_YEAR = 1900;

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T\s]+(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?|[A-Za-z]{1,5})?)?$/i;

const RFC822_DATE =
  /^(?:[A-Za-z]+\.?,?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3,})\.?,?[\s-]+(\d{4}|\d{2})(?:[\s,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?)?\s*(.*)$/;

/**
 * Reads a date as written in a feed and returns it as ISO-8601 UTC, or null when it is missing,
 * unparseable or a placeholder. A date without a zone is taken as UTC. Never throws.
 */
export function parseFeedDate(value: string | null | undefined): string | null {
  if (typeof value !== 'string') return null;
  // Most dates have no whitespace to collapse, and replacing each single space by itself costs
  // more than reading the date: collapse only when there is something to collapse.
  const text = (UNCOLLAPSED_WHITESPACE.test(value) ? value.replace(/\s+/g, ' ') : value).trim();
  if (!text) return null;
  const millis = readMillis(text);
  if (millis === null || !Number.isFinite(millis)) return null;
  const date = new Date(millis);
  const year = date.getUTCFullYear();
  if (year < EARLIEST_YEAR || year > 9999) return null;
  return date.toISOString();
}

/** Whitespace that `replace(/\s+/g, ' ')` would change: a run of two or more, or any but a space. */
const UNCOLLAPSED_WHITESPACE = /\s{2,}|[^\S ]/;

function readMillis(text: string): number | null {
  // A text in a known shape with impossible values ("2024-02-31") is wrong; the loose parser would
  // roll it over into another day, so it only sees shapes the strict readers do not know.
  const iso = ISO_DATE.exec(text);
  if (iso) return isoMillis(iso);
  const rfc822 = parseRfc822(text);
  return rfc822 !== undefined ? rfc822 : parseLoose(text);
}

function isoMillis(m: RegExpExecArray): number | null {
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const offset = zone === undefined ? 0 : zoneOffsetMinutes(zone);
  if (offset === null) return null;
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  return utc(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(s ?? 0),
    ms,
    offset,
  );
}

/** Undefined when the text is not in this shape (or names an unknown zone); null when its values are impossible. */
function parseRfc822(text: string): number | null | undefined {
  const m = RFC822_DATE.exec(text);
  if (!m) return undefined;
  const [, d, monthName, y, h, mi, s, rest] = m;
  const month = MONTHS[(monthName ?? '').slice(0, 3).toLowerCase()];
  if (month === undefined) return undefined;
  let year = Number(y);
  if ((y ?? '').length === 2) year += year < 50 ? 2000 : 1900;
  const zoneText = (rest ?? '').replace(/\(.*\)/, '').trim();
  const offset = zoneText === '' ? 0 : zoneOffsetMinutes(zoneText);
  if (offset === null) return undefined;
  return utc(year, month, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), 0, offset);
}

/** Anything else the JavaScript date parser understands ("January 2, 2024 10:00 AM"), zone-less read as UTC. */
function parseLoose(text: string): number | null {
  const named = /\b([A-Za-z]{2,5})\s*$/.exec(text);
  const namedOffset = named?.[1] ? ZONES[named[1].toUpperCase()] : undefined;
  if (named && namedOffset !== undefined) {
    const local = Date.parse(text.slice(0, named.index).trim());
    return Number.isNaN(local) ? null : asUtc(local) - namedOffset * 60_000;
  }
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) return null;
  return /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) ? parsed : asUtc(parsed);
}

function zoneOffsetMinutes(zone: string): number | null {
  const numeric = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (numeric) {
    const minutes = Number(numeric[2]) * 60 + Number(numeric[3] ?? 0);
    if (minutes > 18 * 60) return null;
    return numeric[1] === '-' ? -minutes : minutes;
  }
  return ZONES[zone.toUpperCase()] ?? null;
}

function utc(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offsetMinutes: number,
): number | null {
  if (year < EARLIEST_YEAR || month > 11 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) {
    return null;
  }
  const millis = Date.UTC(year, month, day, hour, minute, second, ms);
  // Date.UTC rolls "February 31" over into March; a feed that says that is wrong, not early March.
  if (new Date(millis).getUTCDate() !== day && hour !== 24) return null;
  return millis - offsetMinutes * 60_000;
}

/** Takes a time the engine parsed as local and reads its wall-clock fields as UTC. */
function asUtc(localMillis: number): number {
  const d = new Date(localMillis);
  return Date.UTC(
    d.getFullYear(),
    d.getMonth(),
    d.getDate(),
    d.getHours(),
    d.getMinutes(),
    d.getSeconds(),
    d.getMilliseconds(),
  );
}
