import { createHash } from 'node:crypto';

/** At most `limit` requests per `windowMs`, counted in fixed windows that start at the first request. */
export interface RateLimitWindow {
  limit: number;
  windowMs: number;
}

/** Rate limits the fake enforces. Every window is optional; omitted ones keep Discord-like defaults. */
export interface RateLimitOptions {
  /** All bot-authenticated requests together (interaction endpoints excluded). Default 50 per second. */
  global?: RateLimitWindow;
  /** `POST /channels/:channel/messages`, per channel. Default 5 per 5 seconds. */
  messages?: RateLimitWindow;
  /** Every other route, per route and major parameter. Default 50 per second. */
  otherRoutes?: RateLimitWindow;
  /** Overrides by route key, e.g. `{ 'PATCH /channels/:channel/messages/:message': { limit: 1, windowMs: 1000 } }`. */
  routes?: Readonly<Record<string, RateLimitWindow>>;
}

/** The route key of message creation, whose default limit is Discord's observed 5 per 5 s. */
export const CREATE_MESSAGE_ROUTE = 'POST /channels/:channel/messages';

const DEFAULTS = {
  global: { limit: 50, windowMs: 1000 },
  messages: { limit: 5, windowMs: 5000 },
  otherRoutes: { limit: 50, windowMs: 1000 },
} as const;

interface WindowState {
  count: number;
  resetAt: number;
}

/** What a request did to its bucket. */
export interface BucketResult {
  allowed: boolean;
  /** Headers to send with the response (`X-RateLimit-*`). */
  headers: Record<string, string>;
  /** Milliseconds until the bucket resets, when refused. */
  retryAfterMs: number;
}

/** Result of the global check. */
export interface GlobalResult {
  allowed: boolean;
  retryAfterMs: number;
}

/** Per-route buckets and the global limit, as Discord applies them to one bot token. */
export interface RateLimiter {
  /** Counts a request against the global limit, or refuses it without counting. */
  takeGlobal(): GlobalResult;
  /** Counts a request against its route bucket (route key + major parameter), or refuses it without counting. */
  take(routeKey: string, major: string): BucketResult;
  /** The bucket's headers without counting (for answers given before the bucket is reached, e.g. 401). */
  peek(routeKey: string, major: string): Record<string, string>;
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

/** Creates the rate limiter; `now` is injectable so the arithmetic is testable without waiting. */
export function createRateLimiter(options: RateLimitOptions = {}, now: () => number = Date.now): RateLimiter {
  const global = options.global ?? DEFAULTS.global;
  const windows = new Map<string, WindowState>();
  let globalWindow: WindowState = { count: 0, resetAt: 0 };

  const windowFor = (routeKey: string): RateLimitWindow =>
    options.routes?.[routeKey] ??
    (routeKey === CREATE_MESSAGE_ROUTE
      ? (options.messages ?? DEFAULTS.messages)
      : (options.otherRoutes ?? DEFAULTS.otherRoutes));

  // Discord's bucket ids are opaque hashes shared by every major parameter of a route.
  const hashes = new Map<string, string>();
  const bucketHash = (routeKey: string): string => {
    let hash = hashes.get(routeKey);
    if (!hash) {
      hash = createHash('sha1').update(routeKey).digest('hex').slice(0, 32);
      hashes.set(routeKey, hash);
    }
    return hash;
  };

  const current = (routeKey: string, major: string, t: number): WindowState => {
    const key = `${routeKey}|${major}`;
    let state = windows.get(key);
    if (!state || t >= state.resetAt) {
      state = { count: 0, resetAt: t + windowFor(routeKey).windowMs };
      windows.set(key, state);
    }
    return state;
  };

  const headersOf = (routeKey: string, state: WindowState, t: number): Record<string, string> => {
    const { limit } = windowFor(routeKey);
    return {
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(Math.max(0, limit - state.count)),
      'X-RateLimit-Reset': seconds(state.resetAt),
      'X-RateLimit-Reset-After': seconds(state.resetAt - t),
      'X-RateLimit-Bucket': bucketHash(routeKey),
    };
  };

  return {
    takeGlobal() {
      const t = now();
      if (t >= globalWindow.resetAt) globalWindow = { count: 0, resetAt: t + global.windowMs };
      if (globalWindow.count >= global.limit)
        return { allowed: false, retryAfterMs: globalWindow.resetAt - t };
      globalWindow.count += 1;
      return { allowed: true, retryAfterMs: 0 };
    },
    take(routeKey, major) {
      const t = now();
      const state = current(routeKey, major, t);
      const { limit } = windowFor(routeKey);
      if (state.count >= limit) {
        return { allowed: false, headers: headersOf(routeKey, state, t), retryAfterMs: state.resetAt - t };
      }
      state.count += 1;
      return { allowed: true, headers: headersOf(routeKey, state, t), retryAfterMs: 0 };
    },
    peek(routeKey, major) {
      const t = now();
      return headersOf(routeKey, current(routeKey, major, t), t);
    },
  };
}
