import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

/** Handles one request to a route; write the response with `res` as with `node:http`. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** One request the server received, in arrival order. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The client's port: requests that share it came over one kept-alive connection. */
  clientPort: number | undefined;
  /**
   * Settles when the exchange ends: `completed` once the whole response was handed to the
   * socket, `aborted` when the connection closed first (the client gave up, or the server was
   * closed during a stall).
   */
  outcome: Promise<'completed' | 'aborted'>;
}

/** A canned response for `serve`. */
export interface CannedResponse {
  /** Defaults to 200. */
  status?: number;
  headers?: Record<string, string | number | string[]>;
  body?: string | Uint8Array;
  /** Compresses `body` and sets Content-Encoding. */
  encoding?: 'gzip' | 'deflate' | 'br';
  /** Waits this long before sending anything. */
  delayMs?: number;
  /**
   * Never finishes: `before-headers` sends nothing at all, `after-headers` sends the status,
   * the headers and the first half of the body, then keeps the connection open.
   */
  stall?: 'before-headers' | 'after-headers';
  /**
   * Answers 304 when the request's If-None-Match equals this ETag; also sent as the ETag header.
   */
  etag?: string;
  /**
   * Answers 304 when the request's If-Modified-Since equals this value; also sent as Last-Modified.
   */
  lastModified?: string;
}

/** A real HTTP server on a loopback address that tests point feeds at. */
export interface FeedServer {
  /** e.g. `http://127.0.0.1:41234` */
  readonly origin: string;
  readonly port: number;
  /** Every request received so far, including ones to unknown paths. */
  readonly requests: readonly RecordedRequest[];
  /** The absolute URL of `path` on this server, optionally spelled with another host name. */
  url(path: string, host?: string): string;
  /** Requests whose path (without the query) is `path`. */
  requestsTo(path: string): RecordedRequest[];
  /** Installs a handler for an exact path (the query is ignored when matching). */
  route(path: string, handler: RouteHandler): void;
  /** Answers `path` with a canned response. */
  serve(path: string, response: CannedResponse): void;
  /** Answers `path` with a redirect to `location` (sent as given, so it may be relative). */
  redirect(path: string, location: string, status?: 301 | 302 | 303 | 307 | 308): void;
  /** Stops listening and drops every open connection, stalled ones included. */
  close(): Promise<void>;
}

/**
 * Starts a feed server on `host` (default 127.0.0.1) with an ephemeral port. Unknown paths get
 * a 404. Routes may be replaced at any time, so a test can change what a feed serves between polls.
 */
export async function startFeedServer(options: { host?: string } = {}): Promise<FeedServer> {
  const host = options.host ?? '127.0.0.1';
  const routes = new Map<string, RouteHandler>();
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    const outcome = new Promise<'completed' | 'aborted'>((resolve) => {
      res.once('finish', () => resolve('completed'));
      res.once('close', () => resolve(res.writableFinished ? 'completed' : 'aborted'));
    });
    const path = req.url ?? '/';
    requests.push({
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      clientPort: req.socket.remotePort,
      outcome,
    });
    const handler = routes.get(path.split('?')[0] ?? path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = (name: string) => (name.includes(':') ? `[${name}]` : name);
  const origin = `http://${hostInUrl(host)}:${port}`;

  return {
    origin,
    port,
    requests,
    url: (path, otherHost) => `http://${hostInUrl(otherHost ?? host)}:${port}${path}`,
    requestsTo: (path) => requests.filter((request) => (request.path.split('?')[0] ?? '') === path),
    route: (path, handler) => void routes.set(path, handler),
    serve: (path, response) => void routes.set(path, cannedHandler(response)),
    redirect: (path, location, status = 302) =>
      void routes.set(path, (_req, res) => void res.writeHead(status, { location }).end()),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function cannedHandler(response: CannedResponse): RouteHandler {
  return async (req, res) => {
    if (response.delayMs) await new Promise((resolve) => setTimeout(resolve, response.delayMs));
    if (response.stall === 'before-headers') return;

    const headers: Record<string, string | number | string[]> = { ...response.headers };
    if (response.etag !== undefined) headers['etag'] = response.etag;
    if (response.lastModified !== undefined) headers['last-modified'] = response.lastModified;
    const unchanged =
      (response.etag !== undefined && req.headers['if-none-match'] === response.etag) ||
      (response.lastModified !== undefined && req.headers['if-modified-since'] === response.lastModified);
    if (unchanged) {
      res.writeHead(304, headers).end();
      return;
    }

    let body =
      typeof response.body === 'string' ? Buffer.from(response.body) : (response.body ?? Buffer.alloc(0));
    if (response.encoding) {
      body = compress(body, response.encoding);
      headers['content-encoding'] = response.encoding;
    }
    if (response.stall === 'after-headers') {
      res.writeHead(response.status ?? 200, headers).flushHeaders();
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      return;
    }
    headers['content-length'] = body.length;
    res.writeHead(response.status ?? 200, headers).end(body);
  };
}

function compress(body: Uint8Array, encoding: 'gzip' | 'deflate' | 'br'): Buffer {
  if (encoding === 'gzip') return gzipSync(body);
  if (encoding === 'deflate') return deflateSync(body);
  return brotliCompressSync(body);
}
