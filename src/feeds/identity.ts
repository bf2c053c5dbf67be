/**
 * Item identity: the keys that say "this is the same post" across fetches. Every kind of key is
 * only trusted when it is unique within one fetch, because a key shared by two different items
 * (a repeated guid, every item linking to the home page) would make one of them invisible.
 */
import { hash } from 'node:crypto';
import { imageOf, summaryOf } from './summary';
import type { FeedItem } from './types';

/** An item before identity is assigned: every {@link FeedItem} field except `id` and `keys`. */
export type ItemDraft = Omit<FeedItem, 'id' | 'keys'>;

/** Query parameters that only track where a click came from; they never change the page. */
const TRACKING_PARAMETERS = new Set([
  'fbclid',
  'gclid',
  'dclid',
  'msclkid',
  'mc_cid',
  'mc_eid',
  '_hsenc',
  '_hsmi',
  'igshid',
]);

/** Length of a key's hash part: 96 bits keeps keys short (hundreds are stored per feed) yet collision-free in practice. */
const HASH_LENGTH = 16;

/** sha256 of the text (UTF-8), base64url, first 16 characters. */
export function shortHash(text: string): string {
  // One-shot hashing costs a fraction of a Hash object for inputs this short; the bytes are the same.
  return hash('sha256', text, 'base64url').slice(0, HASH_LENGTH);
}

/**
 * The form of a URL used to compare links: scheme and host lower-cased, default port, fragment
 * and tracking parameters (`utm_*`, `fbclid`, `gclid`, …) removed, an empty `?` dropped. The rest
 * of the query keeps its order and encoding. A string that is not a URL is returned trimmed.
 */
export function canonicalLink(url: string): string {
  const trimmed = url.trim();
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    return trimmed;
  }
  // Each setter re-serializes the URL: skip them when the input has nothing for them to remove.
  if (trimmed.includes('#')) parsed.hash = '';
  if (!trimmed.includes('?')) return parsed.href;
  const query = parsed.search.slice(1);
  if (query) {
    // Filter the raw pairs instead of going through URLSearchParams, which would re-encode the rest.
    const kept = query
      .split('&')
      .filter((pair) => pair !== '' && !isTrackingParameter(pair.split('=')[0] ?? ''));
    parsed.search = kept.length ? `?${kept.join('&')}` : '';
  } else {
    parsed.search = '';
  }
  return parsed.href;
}

function isTrackingParameter(rawName: string): boolean {
  let name: string;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    name = rawName.toLowerCase();
  }
  return name.startsWith('utm_') || TRACKING_PARAMETERS.has(name);
}

/** Title as compared in fingerprints: NFKC, lower-cased, whitespace collapsed. */
function normalizeTitle(title: string): string {
  const lower = title.normalize('NFKC').toLowerCase();
  // Most titles have only single spaces, and replacing each by itself costs more than the rest.
  return (UNCOLLAPSED_WHITESPACE.test(lower) ? lower.replace(/\s+/g, ' ') : lower).trim();
}

/** Whitespace that `replace(/\s+/g, ' ')` would change: a run of two or more, or any but a space. */
const UNCOLLAPSED_WHITESPACE = /\s{2,}|[^\S ]/;

interface CandidateKeys {
  guid: string | null;
  link: string | null;
  fingerprint: string | null;
}

function candidateKeys(item: ItemDraft): CandidateKeys {
  const guid = item.guid?.trim() || null;
  const link = item.link?.trim() ? canonicalLink(item.link) : null;
  const title = item.title ? normalizeTitle(item.title) : '';
  // A title without a date ("Weekly update") recurs, so it identifies an item only when nothing
  // better does; with a date it is a fair fingerprint even next to a guid or link.
  const hasFingerprint =
    (title !== '' && item.published !== null) ||
    (guid === null && link === null && (title !== '' || item.published !== null));
  return {
    guid: guid === null ? null : `g:${shortHash(guid)}`,
    link: link === null ? null : `l:${shortHash(link)}`,
    fingerprint: hasFingerprint ? `f:${shortHash(`${title}|${item.published ?? ''}`)}` : null,
  };
}

/** What an item shows besides its summary and image, in the order the content key hashes them. */
function leadingFields(item: ItemDraft): unknown[] {
  return [item.guid, item.title, item.link, item.published, item.author, item.categories];
}

/**
 * Everything shown about an item, as one string: two items with the same one are the same entry
 * twice. The summary is converted here, so this is only for the rare item that needs a `c:` key.
 */
function contentOf(item: ItemDraft): string {
  return JSON.stringify([...leadingFields(item), summaryOf(item), imageOf(item)]);
}

/** Everything shown about an item but its summary, as one string: cheap to build for every item. */
function shownFieldsOf(item: ItemDraft): string {
  return JSON.stringify([...leadingFields(item), imageOf(item)]);
}

/** Whether two items would show the same summary; raw text is compared first so equal items are not converted. */
function sameSummary(a: ItemDraft, b: ItemDraft): boolean {
  return sameTexts(a, b) || summaryOf(a) === summaryOf(b);
}

function sameTexts(a: ItemDraft, b: ItemDraft): boolean {
  return (
    a.contentBase === b.contentBase &&
    a.content.length === b.content.length &&
    a.content.every(
      (text, index) => text.text === b.content[index]?.text && text.type === b.content[index]?.type,
    )
  );
}

/**
 * A hash of everything shown about an item, the key of last resort. Seen keys are stored, so what
 * it hashes must stay as it is (the converted summary included), or such items would be announced again.
 */
function contentKey(item: ItemDraft): string {
  return `c:${shortHash(contentOf(item))}`;
}

/**
 * The identity keys of each item of one fetch, in order `g:` (guid), `l:` (canonical link),
 * `f:` (fingerprint of normalized title and date). A key is used only when no other item of the
 * fetch has it; an item left with no key gets `c:`, a hash of its whole content. The first key
 * is the item's `id`, so ids are distinct as long as no two items are identical in every field
 * (see {@link assignIdentities}, which drops such repeats first).
 */
export function itemKeys(items: readonly ItemDraft[]): string[][] {
  const candidates = items.map(candidateKeys);
  const counts = new Map<string, number>();
  for (const candidate of candidates) {
    for (const key of [candidate.guid, candidate.link, candidate.fingerprint]) {
      if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return candidates.map((candidate, index) => {
    const keys = [candidate.guid, candidate.link, candidate.fingerprint].filter(
      (key): key is string => key !== null && counts.get(key) === 1,
    );
    const item = items[index];
    if (keys.length === 0 && item) keys.push(contentKey(item));
    return keys;
  });
}

/**
 * Gives each item its `id` and `keys`. An entry repeated byte for byte (same guid, title, link,
 * date, author, categories, summary and image) is the same post listed twice by the feed: only
 * its first occurrence is kept, so it cannot be announced twice. Items differing in any field
 * are all kept, in document order, with distinct ids.
 */
export function assignIdentities(items: readonly ItemDraft[]): FeedItem[] {
  // Comparing the contents themselves rather than their hashes: no hashing for every item of
  // every fetch, and no chance of a collision hiding a real post. Summaries are compared only
  // between items equal in every other field, so a normal fetch converts no HTML here.
  const unique = haveDistinctGuids(items) ? items : withoutRepeats(items);
  const keys = itemKeys(unique);
  return unique.map((item, index) => {
    const itemKeyList = keys[index] ?? [contentKey(item)];
    return { id: itemKeyList[0] ?? contentKey(item), keys: itemKeyList, ...item };
  });
}

/** Whether every item has a guid no other item has: then no two can be the same entry repeated. */
function haveDistinctGuids(items: readonly ItemDraft[]): boolean {
  const guids = new Set<string>();
  for (const { guid } of items) {
    if (guid === null || guids.has(guid)) return false;
    guids.add(guid);
  }
  return true;
}

/** The items without the entries repeated byte for byte, first occurrences kept, in order. */
function withoutRepeats(items: readonly ItemDraft[]): readonly ItemDraft[] {
  const kept = new Map<string, ItemDraft[]>();
  return items.filter((item) => {
    const shown = shownFieldsOf(item);
    const twins = kept.get(shown);
    if (twins === undefined) {
      kept.set(shown, [item]);
      return true;
    }
    if (twins.some((twin) => sameSummary(twin, item))) return false;
    twins.push(item);
    return true;
  });
}
