/**
 * The bench's feed server, run in its own process (`fork`) so its CPU never counts against the
 * client being measured. It serves feed `i` at `/feeds/i.xml` on loopback address
 * 127.0.0.2 + ⌊i / 50⌋ (one listener per address, all on one port), with ETag and/or
 * Last-Modified on a configurable share of feeds, and answers conditional requests with 304.
 * Bodies are rendered once per version and kept, so serving costs the same for every client.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveCalls } from './ipc';
import {
  feedFormat,
  feedIndexOfPath,
  FEEDS_PER_HOST,
  hostAddress,
  itemPublished,
  ITEMS_PER_FEED,
  renderFeed,
} from './synthetic-feeds';

interface Entry {
  count: number;
  body: Buffer;
  etag: string;
  lastModified: string;
  contentType: string;
}

/** Counters since the last reset, for checking that a cycle did what its name says. */
export interface FeedServerStats {
  requests: number;
  ok: number;
  notModified: number;
  notFound: number;
  bytes: number;
}

/** Settings of one bench run. */
export interface FeedServerSettings {
  /** Publication time origin shared with the workers. */
  epoch: number;
  /** Share of feeds (0–1) that send validators and honour conditional requests. */
  validatorShare: number;
}

let settings: FeedServerSettings = { epoch: Date.now() - 90 * 86_400_000, validatorShare: 1 };
let validatorsOn = true;
const published = new Map<number, number>();
const entries = new Map<number, Entry>();
const servers = new Map<number, Server>();
let port = 0;
let stats: FeedServerStats = emptyStats();

function emptyStats(): FeedServerStats {
  return { requests: 0, ok: 0, notModified: 0, notFound: 0, bytes: 0 };
}

/** Whether feed `index` sends validators, spread evenly over the indices by a multiplicative hash. */
function validated(index: number): boolean {
  return (Math.imul(index + 1, 0x9e3779b1) >>> 0) % 1000 < settings.validatorShare * 1000;
}

function entryFor(index: number): Entry {
  const count = published.get(index) ?? ITEMS_PER_FEED;
  const cached = entries.get(index);
  if (cached?.count === count) return cached;
  const body = Buffer.from(renderFeed(index, count, settings.epoch));
  const entry: Entry = {
    count,
    body,
    etag: `"${index.toString(36)}-${count}"`,
    lastModified: new Date(itemPublished(settings.epoch, index, count)).toUTCString(),
    contentType:
      feedFormat(index) === 'atom'
        ? 'application/atom+xml; charset=utf-8'
        : 'application/rss+xml; charset=utf-8',
  };
  entries.set(index, entry);
  return entry;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  stats.requests++;
  const index = feedIndexOfPath(req.url ?? '');
  if (index === null) {
    stats.notFound++;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const entry = entryFor(index);
  const headers: Record<string, string | number> = { 'content-type': entry.contentType };
  if (validatorsOn && validated(index)) {
    // A quarter of validated feeds send only an ETag, a quarter only Last-Modified, half both.
    const kind = index % 4;
    const etag = kind !== 3 ? entry.etag : null;
    const lastModified = kind !== 2 ? entry.lastModified : null;
    if (etag) headers['etag'] = etag;
    if (lastModified) headers['last-modified'] = lastModified;
    const ifNoneMatch = req.headers['if-none-match'];
    const ifModifiedSince = req.headers['if-modified-since'];
    // If-None-Match wins when both are sent (RFC 9110 §13.2.2).
    const unchanged =
      ifNoneMatch !== undefined
        ? etag !== null && ifNoneMatch === etag
        : lastModified !== null && ifModifiedSince === lastModified;
    if (unchanged) {
      stats.notModified++;
      res.writeHead(304, headers).end();
      return;
    }
  }
  headers['content-length'] = entry.body.length;
  stats.ok++;
  stats.bytes += entry.body.length;
  res.writeHead(200, headers).end(entry.body);
}

async function listenOn(hostIndex: number): Promise<void> {
  if (servers.has(hostIndex)) return;
  const server = createServer(handle);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostAddress(hostIndex), () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  servers.set(hostIndex, server);
}

serveCalls(
  {
    configure(params: FeedServerSettings) {
      settings = params;
      entries.clear();
      published.clear();
      return null;
    },
    /** Opens listeners for the feeds' addresses and renders their bodies ahead of any cycle. */
    async prepare(params: { indices: number[] }) {
      for (const index of params.indices) {
        await listenOn(Math.floor(index / FEEDS_PER_HOST));
        entryFor(index);
      }
      return { port };
    },
    setValidators(params: { on: boolean }) {
      validatorsOn = params.on;
      return null;
    },
    /** Adds `count` items on top of each feed and renders the new bodies. */
    publish(params: { indices: number[]; count: number }) {
      for (const index of params.indices) {
        published.set(index, (published.get(index) ?? ITEMS_PER_FEED) + params.count);
        entryFor(index);
      }
      return null;
    },
    /** Items feed `index` has published. */
    itemCount(params: { index: number }) {
      return published.get(params.index) ?? ITEMS_PER_FEED;
    },
    takeStats() {
      const taken = stats;
      stats = emptyStats();
      return taken;
    },
  },
  async () => {
    await Promise.all(
      [...servers.values()].map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  },
);
