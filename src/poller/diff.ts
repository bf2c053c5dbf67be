/**
 * What is new in a fetch. Pure: the caller loads the seen keys and stores the result.
 *
 * Rules (DESIGN.md, "Identity and diff"):
 * - An item is new when none of its keys is in `seen`. An item sharing a key with an earlier new
 *   item of the same fetch (the same post listed twice) counts once, as the earlier listing.
 * - First fetch: nothing is fresh; the caller handles any requested backfill.
 * - Re-keying guard: a re-key is suspected when, with something already seen, at least
 *   REKEY_MIN_NEW_ITEMS items and more than REKEY_NEW_SHARE of the fetch look new. Then a "new"
 *   item is fresh only when it is dated strictly after the newest date handled before; new items
 *   that are older, equally old, or undated — or any new item when no date was ever recorded — are
 *   taken to be old posts under new ids and are swallowed (`rebaselined`). So a feed without dates
 *   that changes every id is re-baselined, while one that publishes many genuinely newer items at
 *   once gets them all posted. Below the thresholds nothing is swallowed, so a back-dated post or
 *   two posts sharing a timestamp are never dropped.
 * - `fresh` is oldest first; see `orderOldestFirst`.
 */
import type { FeedItem } from '../feeds/types';

/** A re-key is only suspected when at least this many items of a fetch look new… */
export const REKEY_MIN_NEW_ITEMS = 3;

/** …and they are more than this share of the fetch. */
export const REKEY_NEW_SHARE = 0.5;

/** Dates further than this past `now` are treated as mistakes and do not advance `newestPublished`. */
export const FUTURE_DATE_TOLERANCE_MS = 24 * 60 * 60 * 1000;

/** One fetch to compare against what was handled before. */
export interface DiffInput {
  /** The fetch's items in document order. */
  items: readonly FeedItem[];
  /** Identity keys of items already handled. */
  seen: ReadonlySet<string>;
  /** True on the first successful fetch of the feed. */
  firstFetch: boolean;
  /** The newest `published` (ISO) among items handled before, or null. */
  newestSeenPublished: string | null;
  /** Current time in ms; when given, far-future dates do not advance `newestPublished`. */
  now?: number;
}

/** What a fetch brought. */
export interface DiffResult {
  /** New items to announce, oldest first. */
  fresh: FeedItem[];
  /** Every key of every item in this fetch, without repeats, to mark as seen. */
  allKeys: string[];
  /** True when items that looked new were swallowed as a re-key. */
  rebaselined: boolean;
  /** Why the fetch was re-baselined, in words for `/feed status`; only when `rebaselined`. */
  reason?: string;
  /** The newest `published` among the items handled so far, including this fetch (ISO), or null. */
  newestPublished: string | null;
}

interface Candidate {
  item: FeedItem;
  /** Position in the document. */
  index: number;
  /** `published` in ms, or null when undated or unparseable. */
  date: number | null;
}

/** Finds the items of a fetch that were not handled before, guarding against feeds that change their ids. */
export function diffItems(input: DiffInput): DiffResult {
  const { items, seen } = input;
  const dates = items.map((item) => parseDate(item.published));
  const allKeys = [...new Set(items.flatMap((item) => item.keys))];
  const newestPublished = newestOf(input.newestSeenPublished, dates, input.now);

  if (input.firstFetch) return { fresh: [], allKeys, rebaselined: false, newestPublished };

  const unseen: Candidate[] = [];
  const claimed = new Set<string>();
  items.forEach((item, index) => {
    if (item.keys.some((key) => seen.has(key))) return;
    if (item.keys.some((key) => claimed.has(key))) return;
    for (const key of item.keys) claimed.add(key);
    unseen.push({ item, index, date: dates[index] ?? null });
  });

  const rekeySuspected =
    seen.size > 0 && unseen.length >= REKEY_MIN_NEW_ITEMS && unseen.length > items.length * REKEY_NEW_SHARE;
  if (!rekeySuspected) {
    return { fresh: orderOldestFirst(unseen, dates), allKeys, rebaselined: false, newestPublished };
  }

  const watermark = parseDate(input.newestSeenPublished);
  const newer = unseen.filter((c) => c.date !== null && watermark !== null && c.date > watermark);
  const swallowed = unseen.length - newer.length;
  if (swallowed === 0) {
    return { fresh: orderOldestFirst(newer, dates), allKeys, rebaselined: false, newestPublished };
  }
  const since =
    watermark === null
      ? 'and no item was dated before'
      : `none of them newer than ${new Date(watermark).toISOString()}`;
  const reason =
    `The feed changed the identity of ${swallowed} of ${items.length} items (${since}); ` +
    'treated as the feed changing its ids, so they were marked as seen without posting.';
  return { fresh: orderOldestFirst(newer, dates), allKeys, rebaselined: true, reason, newestPublished };
}

/**
 * Orders new items oldest first. The base order is the feed's listing read from oldest to newest:
 * reverse document order (feeds list newest first), unless the dates of the whole fetch show the
 * feed lists oldest first, in which case document order. Dated items are then sorted by
 * `published` among the places dated items hold, so undated items keep their place in the base
 * order and items sharing a timestamp keep their base order.
 */
function orderOldestFirst(candidates: Candidate[], allDates: readonly (number | null)[]): FeedItem[] {
  const base = listsOldestFirst(allDates) ? [...candidates] : [...candidates].reverse();
  const datedSlots: number[] = [];
  const dated: Candidate[] = [];
  base.forEach((c, slot) => {
    if (c.date !== null) {
      datedSlots.push(slot);
      dated.push(c);
    }
  });
  // Array#sort is stable, so equal dates keep their base order.
  dated.sort((a, b) => (a.date ?? 0) - (b.date ?? 0));
  datedSlots.forEach((slot, i) => {
    base[slot] = dated[i]!;
  });
  return base.map((c) => c.item);
}

/** True when consecutive dated items rise more often than they fall in document order. */
function listsOldestFirst(dates: readonly (number | null)[]): boolean {
  let rising = 0;
  let falling = 0;
  let previous: number | null = null;
  for (const date of dates) {
    if (date === null) continue;
    if (previous !== null) {
      if (date > previous) rising++;
      else if (date < previous) falling++;
    }
    previous = date;
  }
  return rising > falling;
}

function newestOf(
  watermark: string | null,
  dates: readonly (number | null)[],
  now: number | undefined,
): string | null {
  const limit = now === undefined ? Number.POSITIVE_INFINITY : now + FUTURE_DATE_TOLERANCE_MS;
  let newest = parseDate(watermark);
  for (const date of dates) {
    if (date !== null && date <= limit && (newest === null || date > newest)) newest = date;
  }
  return newest === null ? null : new Date(newest).toISOString();
}

function parseDate(iso: string | null): number | null {
  if (iso === null) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}
