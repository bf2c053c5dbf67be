import { NOT_IN_MEMORY, type KeyValueStore, type NotInMemory } from './key-value';
import { storeKeys } from './keys';

/** What Herald knows about one feed URL: caching validators, schedule and health. Times are epoch ms. */
export interface FeedState {
  /** The feed's URL, as subscribed (or as moved to after a permanent redirect). */
  url: string;
  title: string;
  link: string | null;
  etag?: string;
  lastModified?: string;
  /** Hash of the last body, so a 200 with an identical body counts as unchanged. */
  bodyHash?: string;
  nextCheckAt: number;
  lastCheckedAt: number | null;
  lastSuccessAt: number | null;
  /** HTTP status of the last response, when there was one. */
  lastStatus?: number;
  consecutiveFailures: number;
  /** When the current run of failures began. */
  firstFailureAt?: number;
  /** The last failure: `kind` from FeedError (or another stable code) and a message for admins. */
  lastError?: { kind: string; message: string };
  intervalSeconds: number;
  /** The feed's own RSS `<ttl>` in seconds, kept so unchanged checks still honour it. */
  ttlSeconds?: number;
  /** Set once subscribers were told the feed keeps failing, so they are told only once. */
  notifiedFailure?: boolean;
  /** When the feed started answering 404/410. */
  goneSince?: number;
  /** When Herald last re-baselined the feed because it changed its item ids. */
  rebaselinedAt?: number;
  /** ISO-8601 date of the newest item seen, used to tell re-keying from real new posts. */
  newestPublished?: string;
}

/** A feed's state before its first check: never checked, nothing failed. */
export function uncheckedFeedState(
  fields: Pick<FeedState, 'url' | 'title' | 'link' | 'nextCheckAt' | 'intervalSeconds'>,
): FeedState {
  return { ...fields, lastCheckedAt: null, lastSuccessAt: null, consecutiveFailures: 0 };
}

/**
 * What a check that changed nothing else records: its times and status. Kept in a small record
 * of its own (`feed:<hash>:check`), so the most frequent write of all, a 304, does not rewrite
 * the whole state.
 */
export type FeedCheck = Pick<
  FeedState,
  'lastCheckedAt' | 'lastSuccessAt' | 'lastStatus' | 'nextCheckAt' | 'intervalSeconds'
> & { lastCheckedAt: number };

/**
 * Feed state per URL (`feed:<hash>`, with its latest check in `feed:<hash>:check`), and the `feeds`
 * index of URLs with subscriptions. Every read gives the state with the check applied when the check
 * is the newer of the two.
 */
export interface FeedStateRepository {
  get(url: string): Promise<FeedState | undefined>;
  /** `get` without waiting, when the state and its check are in memory; else {@link NOT_IN_MEMORY}. */
  peek(url: string): FeedState | undefined | NotInMemory;
  /** Every subscribed feed that has state: one read of the index and batched reads of the states. */
  listAll(): Promise<FeedState[]>;
  /** Every URL with at least one subscription (some may have no state yet). */
  listUrls(): Promise<string[]>;
  /** Stores `state` whole, replacing what was there. */
  put(state: FeedState): Promise<void>;
  /**
   * Read-modify-write of an existing state (never creates one, so a poll that finishes after the
   * feed's last subscription was removed cannot bring it back). Returning `current` writes nothing.
   */
  update(url: string, fn: (current: FeedState) => FeedState): Promise<FeedState | undefined>;
  /**
   * Records a check that changed nothing but the fields of {@link FeedCheck}, with one small write
   * instead of the whole state; the caller makes sure nothing else changed (validators, failure
   * bookkeeping), or uses `update`. Writes nothing when the feed has no state. Resolves once
   * committed, to whether it wrote.
   */
  recordCheck(url: string, check: FeedCheck): Promise<boolean>;
  /** Returns the state, creating it from `init` when there is none. */
  ensure(url: string, init: FeedState | (() => FeedState)): Promise<FeedState>;
  /** Deletes the state and its check record (the `feeds` index is kept by the subscription repository). */
  remove(url: string): Promise<void>;
}

/**
 * The state as the latest check left it: `check` applied when it is newer than the state's own
 * times (a later full write carries the times too, and then wins). A copy when applied.
 */
function withLatestCheck(state: FeedState, check: FeedCheck | undefined): FeedState {
  if (check === undefined || check.lastCheckedAt <= (state.lastCheckedAt ?? Number.NEGATIVE_INFINITY)) {
    return state;
  }
  return { ...state, ...check };
}

/** Builds the feed state repository over a key-value store. */
export function createFeedStateRepository(kv: KeyValueStore): FeedStateRepository {
  // A copy: the cached index is shared and frozen, and callers sort what they get.
  const listUrls = async () => [...((await kv.get<string[]>(storeKeys.feedIndex)) ?? [])];
  const get = async (url: string) => {
    const state = await kv.get<FeedState>(storeKeys.feedState(url));
    if (state === undefined) return undefined;
    return withLatestCheck(state, await kv.get<FeedCheck>(storeKeys.feedCheck(url)));
  };
  return {
    get,
    peek(url) {
      const state = kv.peek<FeedState>(storeKeys.feedState(url));
      if (state === undefined || state === NOT_IN_MEMORY) return state;
      const check = kv.peek<FeedCheck>(storeKeys.feedCheck(url));
      return check === NOT_IN_MEMORY ? NOT_IN_MEMORY : withLatestCheck(state, check);
    },
    async listAll() {
      const urls = await listUrls();
      const states = await kv.getMany<FeedState>(urls.map(storeKeys.feedState));
      const checks = await kv.getMany<FeedCheck>(urls.map(storeKeys.feedCheck));
      const found: FeedState[] = [];
      states.forEach((state, index) => {
        if (state !== undefined) found.push(withLatestCheck(state, checks[index]));
      });
      return found;
    },
    listUrls,
    async put(state) {
      await kv.update<FeedState>(storeKeys.feedState(state.url), () => state);
    },
    async update(url, fn) {
      const check = await kv.get<FeedCheck>(storeKeys.feedCheck(url));
      return kv.update<FeedState>(storeKeys.feedState(url), (current) =>
        current === undefined ? undefined : fn(withLatestCheck(current, check)),
      );
    },
    async recordCheck(url, check) {
      const key = storeKeys.feedState(url);
      const state = kv.peek<FeedState>(key);
      if ((state === NOT_IN_MEMORY ? await kv.get<FeedState>(key) : state) === undefined) return false;
      // An update rather than a set: the record holds only numbers, so the store keeps it decoded
      // for the next check's read instead of parsing it again.
      await kv.update<FeedCheck>(storeKeys.feedCheck(url), () => check);
      return true;
    },
    async ensure(url, init) {
      const existing = await get(url);
      if (existing !== undefined) return existing;
      // A new state starts without checks: one left over from an earlier life of the URL (a check
      // that finished just after the feed was removed) would otherwise be taken for its latest.
      if ((await kv.get<FeedCheck>(storeKeys.feedCheck(url))) !== undefined) {
        await kv.delete(storeKeys.feedCheck(url));
      }
      const state = await kv.update<FeedState>(
        storeKeys.feedState(url),
        (current) => current ?? (typeof init === 'function' ? init() : init),
      );
      // The updater never returns undefined here, so neither does the update.
      return state as FeedState;
    },
    async remove(url) {
      await Promise.all([
        kv.delete(storeKeys.feedCheck(url)),
        kv.update<FeedState>(storeKeys.feedState(url), () => undefined),
      ]);
    },
  };
}
