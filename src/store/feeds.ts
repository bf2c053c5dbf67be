import type { KeyValueStore } from './key-value';
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

/** Feed state per URL (`feed:<hash>`), and the `feeds` index of URLs with subscriptions. */
export interface FeedStateRepository {
  get(url: string): Promise<FeedState | undefined>;
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
  /** Returns the state, creating it from `init` when there is none. */
  ensure(url: string, init: FeedState | (() => FeedState)): Promise<FeedState>;
  /** Deletes the state (the `feeds` index is kept by the subscription repository). */
  remove(url: string): Promise<void>;
}

/** Builds the feed state repository over a key-value store. */
export function createFeedStateRepository(kv: KeyValueStore): FeedStateRepository {
  // A copy: the cached index is shared and frozen, and callers sort what they get.
  const listUrls = async () => [...((await kv.get<string[]>(storeKeys.feedIndex)) ?? [])];
  return {
    get: (url) => kv.get<FeedState>(storeKeys.feedState(url)),
    async listAll() {
      const urls = await listUrls();
      const states = await kv.getMany<FeedState>(urls.map(storeKeys.feedState));
      return states.filter((state): state is FeedState => state !== undefined);
    },
    listUrls,
    async put(state) {
      await kv.update<FeedState>(storeKeys.feedState(state.url), () => state);
    },
    update: (url, fn) =>
      kv.update<FeedState>(storeKeys.feedState(url), (current) =>
        current === undefined ? undefined : fn(current),
      ),
    async ensure(url, init) {
      const state = await kv.update<FeedState>(
        storeKeys.feedState(url),
        (current) => current ?? (typeof init === 'function' ? init() : init),
      );
      // The updater never returns undefined here, so neither does the update.
      return state as FeedState;
    },
    async remove(url) {
      await kv.update<FeedState>(storeKeys.feedState(url), () => undefined);
    },
  };
}
