import { describe, expect, it } from 'vitest';
import {
  computeNextCheck,
  firstCheckAt,
  MAX_INTERVAL_SECONDS,
  parseHttpDate,
  parseRetryAfter,
  type NextCheckInput,
} from '../../src/poller/interval';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
/** A random source that lands exactly in the middle, so jitter adds nothing. */
const noJitter = () => 0.5;

function input(overrides: Partial<NextCheckInput> = {}): NextCheckInput {
  return {
    now: NOW,
    baseSeconds: 600,
    minSeconds: 60,
    ttlSeconds: null,
    cacheControl: null,
    expires: null,
    retryAfter: null,
    random: noJitter,
    ...overrides,
  };
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

describe('computeNextCheck', () => {
  it('checks again after the base interval when the server gives no hints', () => {
    expect(computeNextCheck(input())).toEqual({ intervalSeconds: 600, nextCheckAt: NOW + 600_000 });
  });

  it('waits for the feed’s RSS ttl when it is longer than the base interval', () => {
    expect(computeNextCheck(input({ ttlSeconds: 3600 })).intervalSeconds).toBe(3600);
  });

  it('never polls faster than the base interval because of a short ttl or max-age', () => {
    expect(computeNextCheck(input({ ttlSeconds: 5, cacheControl: 'max-age=30' })).intervalSeconds).toBe(600);
  });

  it('waits for Cache-Control max-age when it is longer than the base interval', () => {
    expect(computeNextCheck(input({ cacheControl: 'public, max-age=1800' })).intervalSeconds).toBe(1800);
  });

  it('accepts a quoted max-age and upper-case directive names', () => {
    expect(computeNextCheck(input({ cacheControl: 'Public, MAX-AGE="1200"' })).intervalSeconds).toBe(1200);
  });

  it('treats max-age=0 as "do not extend", keeping the base interval', () => {
    expect(computeNextCheck(input({ cacheControl: 'max-age=0' })).intervalSeconds).toBe(600);
  });

  it('ignores max-age and Expires when the server says no-cache or no-store', () => {
    const expires = httpDate(NOW + 7200_000);
    expect(computeNextCheck(input({ cacheControl: 'no-cache, max-age=3600', expires })).intervalSeconds).toBe(
      600,
    );
    expect(computeNextCheck(input({ cacheControl: 'max-age=3600, no-store' })).intervalSeconds).toBe(600);
  });

  it('still honours max-age when no-cache only names header fields', () => {
    expect(
      computeNextCheck(input({ cacheControl: 'no-cache="Set-Cookie, X-Foo", max-age=3600' })).intervalSeconds,
    ).toBe(3600);
  });

  it('ignores s-maxage, which is meant for shared caches', () => {
    expect(computeNextCheck(input({ cacheControl: 's-maxage=7200' })).intervalSeconds).toBe(600);
  });

  it('uses the first max-age when a header repeats it', () => {
    expect(computeNextCheck(input({ cacheControl: 'max-age=1500, max-age=9000' })).intervalSeconds).toBe(
      1500,
    );
  });

  it('waits until Expires when there is no max-age', () => {
    expect(computeNextCheck(input({ expires: httpDate(NOW + 2 * 3600_000) })).intervalSeconds).toBe(7200);
  });

  it('lets max-age take precedence over a later Expires', () => {
    const expires = httpDate(NOW + 5 * 3600_000);
    expect(computeNextCheck(input({ cacheControl: 'max-age=900', expires })).intervalSeconds).toBe(900);
  });

  it('honours Retry-After given in seconds', () => {
    expect(computeNextCheck(input({ retryAfter: '5400' })).intervalSeconds).toBe(5400);
  });

  it('honours Retry-After given as an HTTP date, even when Cache-Control says no-cache', () => {
    const retryAfter = httpDate(NOW + 3 * 3600_000);
    expect(computeNextCheck(input({ retryAfter, cacheControl: 'no-cache' })).intervalSeconds).toBe(10_800);
  });

  it('takes the longest of all the hints', () => {
    const result = computeNextCheck(
      input({
        ttlSeconds: 1200,
        cacheControl: 'max-age=2400',
        retryAfter: '4800',
        expires: httpDate(NOW + 100_000),
      }),
    );
    expect(result.intervalSeconds).toBe(4800);
  });

  it('caps the interval at 24 hours however long the server asks for', () => {
    const result = computeNextCheck(input({ cacheControl: 'max-age=31536000', ttlSeconds: 10_000_000 }));
    expect(result.intervalSeconds).toBe(MAX_INTERVAL_SECONDS);
  });

  it('respects a custom ceiling', () => {
    expect(computeNextCheck(input({ maxSeconds: 3600, ttlSeconds: 50_000 })).intervalSeconds).toBe(3600);
  });

  it('raises a base interval below the floor up to the floor', () => {
    expect(computeNextCheck(input({ baseSeconds: 10, minSeconds: 60 })).intervalSeconds).toBe(60);
  });

  it('spreads intervals by up to ±10 % with jitter', () => {
    expect(computeNextCheck(input({ random: () => 0 })).intervalSeconds).toBe(540);
    expect(computeNextCheck(input({ random: () => 0.999_999 })).intervalSeconds).toBe(660);
    expect(computeNextCheck(input({ random: () => 0.25 })).intervalSeconds).toBe(570);
  });

  it('keeps jittered intervals inside the floor and the ceiling', () => {
    const atCeiling = computeNextCheck(input({ ttlSeconds: 1_000_000, random: () => 0.999_999 }));
    expect(atCeiling.intervalSeconds).toBe(MAX_INTERVAL_SECONDS);
    const atFloor = computeNextCheck(input({ baseSeconds: 60, minSeconds: 60, random: () => 0 }));
    expect(atFloor.intervalSeconds).toBe(60);
  });

  it('ignores malformed headers instead of throwing', () => {
    const garbage = [
      'max-age=abc',
      'max-age=-5',
      'max-age=1e9',
      'max-age',
      '=,,;;',
      '"unterminated',
      'max-age=12.5',
      '\u0000\u00ff',
    ];
    for (const cacheControl of garbage) {
      expect(computeNextCheck(input({ cacheControl })).intervalSeconds).toBe(600);
    }
    for (const value of [
      'soon',
      '-30',
      '1.5',
      'abc 12',
      'Mon, 32 Jan 2025 00:00:00 GMT',
      'Fri, 31 Feb 2025 00:00:00 GMT',
    ]) {
      expect(computeNextCheck(input({ retryAfter: value, expires: value })).intervalSeconds).toBe(600);
    }
  });

  it('ignores an Expires or Retry-After date in the past', () => {
    const past = httpDate(NOW - 3600_000);
    expect(computeNextCheck(input({ expires: past, retryAfter: past })).intervalSeconds).toBe(600);
  });
});

describe('parseHttpDate', () => {
  it('reads the three HTTP date forms', () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(expected);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(expected);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', NOW)).toBe(expected);
  });

  it('refuses loose text that Date.parse would accept', () => {
    expect(parseHttpDate('abc 12', NOW)).toBeNull();
    expect(parseHttpDate('2025-01-01', NOW)).toBeNull();
    expect(parseHttpDate('0', NOW)).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and dates relative to now, and nothing else', () => {
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120);
    expect(parseRetryAfter(httpDate(NOW + 90_000), NOW)).toBe(90);
    expect(parseRetryAfter('later', NOW)).toBeNull();
    expect(parseRetryAfter(null, NOW)).toBeNull();
  });
});

describe('firstCheckAt', () => {
  it('spreads first checks over the first interval', () => {
    expect(firstCheckAt({ now: NOW, intervalSeconds: 600, random: () => 0 })).toBe(NOW);
    expect(firstCheckAt({ now: NOW, intervalSeconds: 600, random: () => 0.5 })).toBe(NOW + 300_000);
    expect(firstCheckAt({ now: NOW, intervalSeconds: 600, random: () => 0.999_999 })).toBeLessThan(
      NOW + 600_000,
    );
  });
});
