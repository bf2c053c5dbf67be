import { describe, expect, it } from 'vitest';
import {
  failureBackoff,
  FAILURE_NOTICE_SPAN_MS,
  FAILURE_NOTICE_THRESHOLD,
  GONE_PAUSE_AFTER_MS,
  MAX_BACKOFF_SECONDS,
  shouldNotifyFailure,
  shouldPauseGoneFeed,
  type FailureBackoffInput,
} from '../../src/poller/backoff';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const HOUR = 3600_000;
const DAY = 24 * HOUR;

function input(overrides: Partial<FailureBackoffInput> = {}): FailureBackoffInput {
  return {
    now: NOW,
    baseSeconds: 600,
    minSeconds: 60,
    consecutiveFailures: 1,
    retryAfter: null,
    random: () => 0.5,
    ...overrides,
  };
}

describe('failureBackoff', () => {
  it('doubles the wait with each consecutive failure, starting at the base interval', () => {
    const waits = [1, 2, 3, 4, 5].map(
      (n) => failureBackoff(input({ consecutiveFailures: n })).intervalSeconds,
    );
    expect(waits).toEqual([600, 1200, 2400, 4800, 9600]);
  });

  it('schedules the retry that many seconds from now', () => {
    expect(failureBackoff(input({ consecutiveFailures: 2 })).nextCheckAt).toBe(NOW + 1_200_000);
  });

  it('never waits more than 24 hours, even after thousands of failures', () => {
    for (const n of [9, 20, 5000]) {
      expect(failureBackoff(input({ consecutiveFailures: n })).intervalSeconds).toBe(MAX_BACKOFF_SECONDS);
    }
    expect(
      failureBackoff(input({ consecutiveFailures: 5000, random: () => 0.999_999 })).intervalSeconds,
    ).toBe(MAX_BACKOFF_SECONDS);
  });

  it('applies ±10 % jitter to the retry', () => {
    expect(failureBackoff(input({ consecutiveFailures: 2, random: () => 0 })).intervalSeconds).toBe(1080);
    expect(failureBackoff(input({ consecutiveFailures: 2, random: () => 0.999_999 })).intervalSeconds).toBe(
      1320,
    );
  });

  it('never retries earlier than the server’s Retry-After', () => {
    expect(failureBackoff(input({ retryAfter: '3000' })).intervalSeconds).toBe(3000);
    const date = new Date(NOW + 2 * HOUR).toUTCString();
    expect(failureBackoff(input({ retryAfter: date, random: () => 0 })).intervalSeconds).toBe(7200);
  });

  it('keeps its own longer backoff when Retry-After is shorter', () => {
    expect(failureBackoff(input({ consecutiveFailures: 4, retryAfter: '30' })).intervalSeconds).toBe(4800);
  });

  it('caps an absurd Retry-After at 24 hours', () => {
    expect(failureBackoff(input({ retryAfter: String(30 * 86_400) })).intervalSeconds).toBe(
      MAX_BACKOFF_SECONDS,
    );
  });

  it('ignores a malformed Retry-After', () => {
    expect(failureBackoff(input({ retryAfter: 'tomorrow-ish' })).intervalSeconds).toBe(600);
  });

  it('treats a zero or missing failure count as the first failure', () => {
    expect(failureBackoff(input({ consecutiveFailures: 0 })).intervalSeconds).toBe(600);
  });
});

describe('shouldNotifyFailure', () => {
  const firstFailureAt = NOW - FAILURE_NOTICE_SPAN_MS;

  it('notifies once ten failures in a row span a day', () => {
    expect(FAILURE_NOTICE_THRESHOLD).toBe(10);
    expect(
      shouldNotifyFailure({ consecutiveFailures: 10, firstFailureAt, now: NOW, alreadyNotified: false }),
    ).toBe(true);
  });

  it('does not notify twice for the same run of failures', () => {
    expect(
      shouldNotifyFailure({ consecutiveFailures: 30, firstFailureAt, now: NOW, alreadyNotified: true }),
    ).toBe(false);
  });

  it('stays quiet for many quick failures within less than a day', () => {
    expect(
      shouldNotifyFailure({
        consecutiveFailures: 50,
        firstFailureAt: NOW - 23 * HOUR,
        now: NOW,
        alreadyNotified: false,
      }),
    ).toBe(false);
  });

  it('stays quiet for fewer than ten failures however long they span', () => {
    expect(
      shouldNotifyFailure({
        consecutiveFailures: 9,
        firstFailureAt: NOW - 5 * DAY,
        now: NOW,
        alreadyNotified: false,
      }),
    ).toBe(false);
  });

  it('stays quiet for a healthy feed', () => {
    expect(
      shouldNotifyFailure({ consecutiveFailures: 0, firstFailureAt: null, now: NOW, alreadyNotified: false }),
    ).toBe(false);
  });
});

describe('shouldPauseGoneFeed', () => {
  it('pauses a feed that has answered 404 or 410 for a week', () => {
    expect(shouldPauseGoneFeed({ status: 404, goneSince: NOW - GONE_PAUSE_AFTER_MS, now: NOW })).toBe(true);
    expect(shouldPauseGoneFeed({ status: 410, goneSince: NOW - 8 * DAY, now: NOW })).toBe(true);
  });

  it('keeps checking a feed that has been gone for less than a week', () => {
    expect(shouldPauseGoneFeed({ status: 404, goneSince: NOW - 6 * DAY, now: NOW })).toBe(false);
  });

  it('does not pause for other failures, however long they last', () => {
    for (const status of [500, 503, 403, null]) {
      expect(shouldPauseGoneFeed({ status, goneSince: NOW - 30 * DAY, now: NOW })).toBe(false);
    }
  });

  it('does not pause when no start of the 404 run was recorded', () => {
    expect(shouldPauseGoneFeed({ status: 404, goneSince: null, now: NOW })).toBe(false);
  });
});
