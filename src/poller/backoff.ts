/**
 * What to do after a failed check: when to try again, when to tell the subscribed channels, and
 * when to give up on a feed that has gone away. Pure functions over numbers the caller stores.
 */
import { applyJitter, MAX_INTERVAL_SECONDS, parseRetryAfter, type NextCheck } from './interval';

/** Failed checks never wait longer than this between attempts (DESIGN.md: "up to 24 h"). */
export const MAX_BACKOFF_SECONDS = MAX_INTERVAL_SECONDS;

/** Consecutive failures after which the subscribed channels get one notice… */
export const FAILURE_NOTICE_THRESHOLD = 10;

/** …provided the failures span at least this long, so a short outage with fast retries stays quiet. */
export const FAILURE_NOTICE_SPAN_MS = 24 * 60 * 60 * 1000;

/** A feed answering one of these statuses… */
export const GONE_STATUSES: ReadonlySet<number> = new Set([404, 410]);

/** …for this long is paused. */
export const GONE_PAUSE_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

/** What `failureBackoff` needs to know about a failed check. */
export interface FailureBackoffInput {
  /** Current time in milliseconds since the epoch. */
  now: number;
  /** The configured base interval (POLL_INTERVAL_SECONDS). */
  baseSeconds: number;
  /** The floor for any interval (MIN_POLL_INTERVAL_SECONDS). */
  minSeconds: number;
  /** Failures in a row, counting this one (1 for the first failure). */
  consecutiveFailures: number;
  /** The server's Retry-After header, when the failure came with one (429, 503). */
  retryAfter: string | null;
  /** Uniform in [0, 1), like Math.random. */
  random: () => number;
}

/**
 * Computes the retry after a failure: base × 2^(n−1), at most MAX_BACKOFF_SECONDS, with ±10 %
 * jitter, and never earlier than the server's Retry-After. A Retry-After beyond the 24 h ceiling
 * is cut to it, so a misconfigured server cannot silence a feed for weeks.
 */
export function failureBackoff(input: FailureBackoffInput): NextCheck {
  const min = Math.min(Math.max(input.minSeconds, 1), MAX_BACKOFF_SECONDS);
  const failures = Number.isFinite(input.consecutiveFailures)
    ? Math.max(1, Math.floor(input.consecutiveFailures))
    : 1;
  // Past 2^40 the product is far above the ceiling anyway; capping the exponent avoids Infinity.
  const exponential = Math.max(input.baseSeconds, min) * 2 ** Math.min(failures - 1, 40);
  let intervalSeconds = applyJitter(
    Math.min(exponential, MAX_BACKOFF_SECONDS),
    min,
    MAX_BACKOFF_SECONDS,
    input.random,
  );
  const retryAfter = parseRetryAfter(input.retryAfter, input.now);
  if (retryAfter !== null && retryAfter > intervalSeconds) {
    intervalSeconds = Math.min(Math.ceil(retryAfter), MAX_BACKOFF_SECONDS);
  }
  return { intervalSeconds, nextCheckAt: input.now + intervalSeconds * 1000 };
}

/** Decides whether a failing feed's channels should now get their one notice. */
export function shouldNotifyFailure(input: {
  consecutiveFailures: number;
  /** When the current run of failures began (ms since the epoch), or null when the feed is healthy. */
  firstFailureAt: number | null;
  now: number;
  alreadyNotified: boolean;
  /** Failures in a row before a notice; FAILURE_NOTICE_THRESHOLD unless an operator or a test says otherwise. */
  threshold?: number;
  /** How long the failures must have lasted; FAILURE_NOTICE_SPAN_MS by default. */
  spanMs?: number;
}): boolean {
  if (input.alreadyNotified || input.firstFailureAt === null) return false;
  return (
    input.consecutiveFailures >= (input.threshold ?? FAILURE_NOTICE_THRESHOLD) &&
    input.now - input.firstFailureAt >= (input.spanMs ?? FAILURE_NOTICE_SPAN_MS)
  );
}

/** Decides whether a feed that keeps answering 404/410 has been gone long enough to pause. */
export function shouldPauseGoneFeed(input: {
  /** HTTP status of the latest check, or null when it failed without one. */
  status: number | null;
  /** When the feed first answered 404/410 in the current run (ms since the epoch), or null. */
  goneSince: number | null;
  now: number;
  /** How long a feed may stay gone before it is paused; GONE_PAUSE_AFTER_MS by default. */
  pauseAfterMs?: number;
}): boolean {
  if (input.status === null || !GONE_STATUSES.has(input.status) || input.goneSince === null) return false;
  return input.now - input.goneSince >= (input.pauseAfterMs ?? GONE_PAUSE_AFTER_MS);
}
