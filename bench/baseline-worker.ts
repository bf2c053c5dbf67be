/**
 * The yardsticks Herald is measured against, each in a process of its own:
 * - `limit`: a bare undici GET loop over the same URLs at the same concurrency, keeping ETag and
 *   Last-Modified like any conditional client: what the HTTP exchange itself costs;
 * - `naive`: rss-parser `parseURL` on every feed every cycle, the pattern most feed bots use;
 * - `parse`: rss-parser `parseString` on the same bodies, CPU only (the floor of parsing), and
 *   Herald's own path from body to records on them, one feed at a time (see {@link heraldPathCost}).
 * Both loops go through the same concurrency gate as Herald (global and per-host limits).
 */
import Parser from 'rss-parser';
import { Agent, request } from 'undici';
import { createConcurrencyGate, type ConcurrencyGate } from '../src/poller/concurrency-gate';
import { decodeFeedBody } from '../src/feeds/decode';
import { hashBody } from '../src/feeds/load-feed';
import { parseFeed } from '../src/feeds/parse';
import { hostOf } from '../src/feeds/url-host';
import { diffItems } from '../src/poller/diff';
import { encodeValue } from '../src/store/codec';
import { withRecentItems } from '../src/store/recent';
import { appendSeenKeys } from '../src/store/seen';
import { uncheckedFeedState } from '../src/store/feeds';
import { afterParsedFetch } from '../src/poller/feed-checker';
import type { FetchedOutcome, FetchHeaders } from '../src/feeds/types';
import { cpuSeconds, peakRssMb, serveCalls } from './ipc';
import { feedUrl } from './synthetic-feeds';

/** What the orchestrator tells a baseline worker at start. */
export interface BaselineInit {
  mode: 'limit' | 'naive' | 'parse';
  port: number;
  indices: number[];
  fetchConcurrency: number;
  hostConcurrency: number;
}

/** What one loop over every feed cost. */
export interface BaselineMeasurement {
  feeds: number;
  wallMs: number;
  cpuSeconds: number;
  statuses: Record<string, number>;
  errors: number;
  bytes: number;
  /** naive: items not seen in the previous cycle. */
  newItems: number;
  peakRssMb: number;
}

/** What parsing alone cost. */
export interface ParseMeasurement {
  feeds: number;
  bytes: number;
  cpuSeconds: number;
  items: number;
}

interface Validators {
  etag?: string;
  lastModified?: string;
}

interface State {
  init: BaselineInit;
  urls: string[];
  gate: ConcurrencyGate;
  agent: Agent;
  validators: Map<string, Validators>;
  seen: Map<string, Set<string>>;
  parser: Parser;
}

let state: State | null = null;

function requireState(): State {
  if (!state) throw new Error('not started');
  return state;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

async function limitFetch(s: State, url: string, tally: BaselineMeasurement): Promise<void> {
  const known = s.validators.get(url);
  const headers: Record<string, string> = { 'user-agent': 'bench-limit', accept: '*/*' };
  if (known?.etag) headers['if-none-match'] = known.etag;
  if (known?.lastModified) headers['if-modified-since'] = known.lastModified;
  const response = await request(url, { dispatcher: s.agent, headers });
  const status = String(response.statusCode);
  tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
  if (response.statusCode === 200) {
    tally.bytes += (await response.body.arrayBuffer()).byteLength;
    const etag = header(response.headers['etag']);
    const lastModified = header(response.headers['last-modified']);
    // Like Herald, keep what the server sent last; a response without validators keeps the old ones.
    if (etag || lastModified)
      s.validators.set(url, {
        ...known,
        ...(etag ? { etag } : {}),
        ...(lastModified ? { lastModified } : {}),
      });
  } else {
    await response.body.dump();
  }
}

async function naiveFetch(s: State, url: string, tally: BaselineMeasurement): Promise<void> {
  const feed = await s.parser.parseURL(url);
  tally.statuses['200'] = (tally.statuses['200'] ?? 0) + 1;
  const seen = s.seen.get(url);
  const ids = new Set(feed.items.map((item) => item.guid ?? item.link ?? item.title ?? ''));
  if (seen) for (const id of ids) if (!seen.has(id)) tally.newItems++;
  s.seen.set(url, ids);
}

/**
 * One loop over every feed; the limit loop runs `passes` times from the same validators and
 * reports its fastest pass, so the yardstick Herald is held to is the best the HTTP exchange did.
 */
async function cycle(params: { passes?: number } = {}): Promise<BaselineMeasurement> {
  const s = requireState();
  const passes = s.init.mode === 'limit' ? Math.max(1, params.passes ?? 1) : 1;
  const validators = new Map(s.validators);
  let best: BaselineMeasurement | null = null;
  for (let pass = 0; pass < passes; pass++) {
    s.validators = new Map(validators);
    const measured = await loop(s);
    if (!best || measured.wallMs < best.wallMs) best = measured;
  }
  return best!;
}

async function loop(s: State): Promise<BaselineMeasurement> {
  const tally: BaselineMeasurement = {
    feeds: s.urls.length,
    wallMs: 0,
    cpuSeconds: 0,
    statuses: {},
    errors: 0,
    bytes: 0,
    newItems: 0,
    peakRssMb: 0,
  };
  const cpu = cpuSeconds();
  const started = performance.now();
  const fetchOne = s.init.mode === 'naive' ? naiveFetch : limitFetch;
  await Promise.all(
    s.urls.map((url) =>
      s.gate
        .run(hostOf(url), () => fetchOne(s, url, tally))
        .catch((error: unknown) => {
          tally.errors++;
          if (tally.errors <= 3) console.error(`bench ${s.init.mode}: ${url}:`, error);
        }),
    ),
  );
  tally.wallMs = performance.now() - started;
  tally.cpuSeconds = cpuSeconds() - cpu;
  tally.peakRssMb = peakRssMb();
  return tally;
}

/**
 * Fetches every body and hands each batch of 500 (bounding memory) to `prepare`, neither measured,
 * then measures `work` on what `prepare` made of it.
 */
async function measureOnBodies<T>(
  prepare: (bodies: Buffer[]) => T[],
  work: (batch: T[], first: number, result: ParseMeasurement) => Promise<void>,
): Promise<ParseMeasurement> {
  const s = requireState();
  const result: ParseMeasurement = { feeds: 0, bytes: 0, cpuSeconds: 0, items: 0 };
  const batch = 500;
  for (let start = 0; start < s.urls.length; start += batch) {
    const urls = s.urls.slice(start, start + batch);
    const bodies = await Promise.all(
      urls.map((url) =>
        s.gate.run(hostOf(url), async () => {
          const response = await request(url, { dispatcher: s.agent });
          return Buffer.from(await response.body.arrayBuffer());
        }),
      ),
    );
    for (const body of bodies) result.bytes += body.length;
    const prepared = prepare(bodies);
    const before = cpuSeconds();
    await work(prepared, start, result);
    result.cpuSeconds += cpuSeconds() - before;
    result.feeds += bodies.length;
  }
  return result;
}

/** rss-parser's parseString on every body (decoded beforehand, not measured). */
function parseCost(): Promise<ParseMeasurement> {
  return measureOnBodies(
    (bodies) => bodies.map((body) => body.toString('utf8')),
    async (texts, _first, result) => {
      for (const text of texts) {
        const feed = await new Parser().parseString(text);
        result.items += feed.items.length;
      }
    },
  );
}

/**
 * What Herald itself does with a body it has never seen, one feed at a time, with no HTTP, no
 * database and nothing else in flight: body hash, decode, parse (rss-parser), normalize, identity
 * keys, the first-fetch diff, seen keys, recent items and the three records encoded as the store
 * writes them. Set against `parseCost`, it shows how much of a cold check is Herald's own code.
 */
function heraldPathCost(): Promise<ParseMeasurement> {
  const s = requireState();
  return measureOnBodies(
    (bodies) => bodies,
    async (bodies, first, result) => {
      for (const [index, body] of bodies.entries()) {
        const url = s.urls[first + index] ?? '';
        const { feed, items } = await parseFeed(decodeFeedBody(body, NO_HEADERS.contentType), { url });
        const diff = diffItems({
          items,
          seen: new Set(),
          firstFetch: true,
          newestSeenPublished: null,
          now: Date.now(),
        });
        // appendSeenKeys keeps at least MIN_SEEN_CAPACITY, as the checker asks.
        const seen = appendSeenKeys([], diff.allKeys, 3 * items.length).keys;
        const recent = withRecentItems([], items);
        const at = Date.now();
        const response: FetchedOutcome = {
          kind: 'fetched',
          requestedUrl: url,
          url,
          permanentUrl: null,
          status: 200,
          headers: NO_HEADERS,
          body,
        };
        const state = afterParsedFetch(
          uncheckedFeedState({ url, title: url, link: null, nextCheckAt: 0, intervalSeconds: 600 }),
          {
            feed,
            response,
            bodyHash: hashBody(body),
            at,
            next: { intervalSeconds: 600, nextCheckAt: at + 600_000 },
            newestPublished: diff.newestPublished,
            rebaselined: diff.rebaselined,
          },
        );
        encodeValue(seen);
        encodeValue(recent);
        encodeValue(state);
        result.items += items.length;
      }
    },
  );
}

const NO_HEADERS: FetchHeaders = {
  contentType: 'application/rss+xml',
  etag: null,
  lastModified: null,
  cacheControl: null,
  expires: null,
  retryAfter: null,
};

serveCalls(
  {
    start(init: BaselineInit) {
      state = {
        init,
        urls: init.indices.map((index) => feedUrl(init.port, index)),
        gate: createConcurrencyGate({ global: init.fetchConcurrency, perHost: init.hostConcurrency }),
        agent: new Agent(),
        validators: new Map(),
        seen: new Map(),
        parser: new Parser(),
      };
      return null;
    },
    cycle,
    parseCost,
    heraldPathCost,
  },
  async () => {
    await state?.agent.close();
  },
);
