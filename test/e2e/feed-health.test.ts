import { describe, it, type TestContext } from 'vitest';
import type { FeedState } from '../../src/store';
import { startWorld, waitUntil, type HeraldWorld, type WorldOptions } from '../support/herald-harness';
import { GrowingFeed } from '../support/synthetic-feed';

const RSS = { 'Content-Type': 'application/rss+xml' };

/** A world closed when the test ends, whatever its outcome. */
async function openWorld(context: TestContext, options?: WorldOptions): Promise<HeraldWorld> {
  const world = await startWorld(options);
  context.onTestFinished(() => world.close());
  return world;
}

/** How a switchable feed answers: its RSS, or one of the ways feeds break. */
type Behaviour = 'ok' | 'stall' | 'error' | 'garbage';

/** A feed whose behaviour a test flips, recording Herald's stored state as each request arrives. */
interface SwitchableFeed {
  feed: GrowingFeed;
  url: string;
  path: string;
  behave(behaviour: Behaviour): void;
  /** The stored state seen when each request arrived: what the check before it recorded. */
  stateAtRequest: (FeedState | undefined)[];
  /** How many failure notices about this feed the world's channel had when each request arrived. */
  noticesAtRequest: number[];
}

function switchableFeed(world: HeraldWorld, path: string, title: string): SwitchableFeed {
  const feed = new GrowingFeed(title);
  feed.publish(2);
  const url = world.feeds.url(path);
  let behaviour: Behaviour = 'ok';
  const stateAtRequest: (FeedState | undefined)[] = [];
  const noticesAtRequest: number[] = [];
  world.feeds.route(path, async (_req, res) => {
    noticesAtRequest.push(noticesAbout(world, world.channel.id, title).length);
    stateAtRequest.push(await world.herald.store.feeds.get(url));
    if (behaviour === 'ok') res.writeHead(200, RSS).end(feed.xml());
    else if (behaviour === 'error') res.writeHead(500, { 'Content-Type': 'text/plain' }).end('oops');
    else if (behaviour === 'garbage') res.writeHead(200, RSS).end('\u0000\u0001 }{ not <xml> at all ]]>');
    // 'stall': never answer; Herald's fetch timeout has to give up.
  });
  return { feed, url, path, stateAtRequest, noticesAtRequest, behave: (next) => void (behaviour = next) };
}

/** Waits until the stored state of `url` satisfies `ready`, and returns it. */
function stateWhen(
  world: HeraldWorld,
  url: string,
  ready: (state: FeedState) => boolean,
  what: string,
): Promise<FeedState> {
  return waitUntil(
    async () => {
      const state = await world.herald.store.feeds.get(url);
      return state && ready(state) ? state : undefined;
    },
    { what, timeoutMs: 15_000 },
  );
}

/** The failure notices about the feed titled `title` in a channel. */
function noticesAbout(world: HeraldWorld, channelId: string, title: string) {
  return world.discord
    .messages(channelId)
    .filter((message) => message.content.startsWith('⚠️') && message.content.includes(`**${title}**`));
}

/**
 * Requests that carried a failure notice about `title` to a channel. Counted at the request log
 * because Discord's nonce window (minutes) would hide a repeat sent soon after, but not one sent
 * after hours of backoff.
 */
function noticeRequests(world: HeraldWorld, channelId: string, title: string) {
  return world.discord.requestLog.filter((entry) => {
    const content = (entry.body as { content?: unknown } | undefined)?.content;
    return (
      entry.path.startsWith(`/channels/${channelId}/messages`) &&
      typeof content === 'string' &&
      content.includes(`**${title}**`)
    );
  });
}

/** Titles of the announcements in a channel, oldest first. */
function postedTitles(world: HeraldWorld, channelId: string): (string | undefined)[] {
  return world.discord
    .messages(channelId)
    .filter((message) => message.embeds.length > 0)
    .map((message) => message.embeds[0]?.title);
}

describe.concurrent('feeds that break', () => {
  it('backs off a feed that times out, one that answers 500 and one that serves garbage, tells each channel once, keeps healthy feeds on schedule, and recovers', async (context) => {
    const { expect } = context;
    const world = await openWorld(context, {
      env: { FETCH_TIMEOUT_SECONDS: '1' },
      herald: { checkPolicy: { failureNoticeThreshold: 3, failureNoticeSpanMs: 0 } },
    });
    const other = world.discord.addChannel(world.guild.id, { name: 'other' });
    const healthy = switchableFeed(world, '/healthy.xml', 'Healthy');
    const stalling = switchableFeed(world, '/stalling.xml', 'Stalling');
    const erroring = switchableFeed(world, '/erroring.xml', 'Erroring');
    const garbled = switchableFeed(world, '/garbled.xml', 'Garbled');
    await world.subscribe(healthy.url);
    await world.subscribe(stalling.url);
    await world.subscribe(garbled.url);
    await world.subscribe(garbled.url, { channelId: other.id });
    await world.subscribe(erroring.url);
    const { subscription: erroringElsewhere } = await world.subscribe(erroring.url, { channelId: other.id });
    stalling.behave('stall');
    erroring.behave('error');
    garbled.behave('garbage');

    // The healthy feed keeps posting while its neighbours fail.
    const early = healthy.feed.publish(2);
    await world.discord.waitForMessages(world.channel.id, 2);

    // Failures back off exponentially, visible in the stored state: at a 1 s base, 1 s, 2 s and
    // 4 s with ±10 % jitter round to exactly those whole seconds.
    const third = await stateWhen(world, erroring.url, (s) => s.consecutiveFailures >= 3, 'a third 500');
    const earlierFailures = erroring.stateAtRequest.filter((s) => (s?.consecutiveFailures ?? 0) > 0);
    const history = [...earlierFailures, third];
    // Below the threshold the channels heard nothing.
    const beforeThird = erroring.stateAtRequest.findIndex((s) => s?.consecutiveFailures === 2);
    expect(erroring.noticesAtRequest[beforeThird]).toBe(0);
    expect(history.map((s) => s?.consecutiveFailures)).toEqual([1, 2, 3]);
    expect(history.map((s) => s?.intervalSeconds)).toEqual([1, 2, 4]);
    expect(third.nextCheckAt - (third.lastCheckedAt ?? 0)).toBe(4000);
    expect(third).toMatchObject({ lastStatus: 500, lastError: { kind: 'http-status' } });

    // The notice reaches each subscribed channel once the threshold is crossed.
    await world.discord.waitFor(() =>
      noticesAbout(world, world.channel.id, 'Erroring').length > 0 &&
      noticesAbout(world, other.id, 'Erroring').length > 0
        ? true
        : undefined,
    );

    // The erroring feed comes back with news before its next attempt.
    erroring.behave('ok');
    const comeback = erroring.feed.publish(2);
    const later = healthy.feed.publish(1);

    // The garbage feed fails a fourth time without a second notice.
    const fourth = await stateWhen(
      world,
      garbled.url,
      (s) => s.consecutiveFailures >= 4,
      'a fourth bad body',
    );
    expect(fourth.lastError?.kind).toBe('not-a-feed');
    expect(fourth.intervalSeconds).toBeGreaterThanOrEqual(7);
    const stalled = await stateWhen(
      world,
      stalling.url,
      (s) => s.consecutiveFailures >= 3,
      'a third timeout',
    );
    expect(stalled.lastError?.kind).toBe('timeout');
    expect(stalled.intervalSeconds).toBe(4);

    const recovered = await stateWhen(world, erroring.url, (s) => s.consecutiveFailures === 0, 'recovery');
    expect(recovered.lastError).toBeUndefined();
    const comebackTitles = comeback.map((post) => post.title);
    const mainTitles = [...early, ...later, ...comeback].map((post) => post.title);
    await world.discord.waitFor(() =>
      postedTitles(world, other.id).length >= 2 &&
      postedTitles(world, world.channel.id).length >= mainTitles.length
        ? true
        : undefined,
    );
    await world.herald.idle();

    expect(postedTitles(world, other.id)).toEqual(comebackTitles);
    // /feed status counts the feed's items, not the notice about its failures.
    const { subscription: counted } = await world.herald.subscriptions.status(
      world.guild.id,
      erroringElsewhere.id,
    );
    expect(counted.postedCount).toBe(comebackTitles.length);
    expect(postedTitles(world, world.channel.id).sort()).toEqual(mainTitles.sort());
    for (const channelId of [world.channel.id, other.id]) {
      expect(noticesAbout(world, channelId, 'Erroring')).toHaveLength(1);
      expect(noticesAbout(world, channelId, 'Garbled')).toHaveLength(1);
      expect(noticeRequests(world, channelId, 'Garbled')).toHaveLength(1);
    }
    expect(noticesAbout(world, world.channel.id, 'Stalling')).toHaveLength(1);
    expect(noticesAbout(world, other.id, 'Stalling')).toHaveLength(0);

    // Healthy stayed on its 1 s schedule while the others backed off.
    const healthyState = await world.herald.store.feeds.get(healthy.url);
    expect(healthyState).toMatchObject({ consecutiveFailures: 0, intervalSeconds: 1 });
    const requests = (feed: SwitchableFeed) => world.feeds.requestsTo(feed.path).length;
    expect(requests(healthy)).toBeGreaterThan(requests(stalling));
    expect(requests(healthy)).toBeGreaterThan(requests(garbled));
  });
});

describe.concurrent('unchanged feeds', () => {
  /** Subscribes to a feed at `path` and checks that each unchanged check costs exactly one store write. */
  async function expectOneWritePerCheck(
    context: TestContext,
    world: HeraldWorld,
    path: string,
    checks: number,
  ): Promise<void> {
    const { expect } = context;
    await world.waitForChecks(path, 2);
    const requestsBefore = world.feeds.requestsTo(path).length;
    const writesBefore = world.herald.store.stats().writes;
    await world.waitForChecks(path, requestsBefore + checks);
    // Read together, right after the checks settled: each request so far has its check finished.
    const requestsAfter = world.feeds.requestsTo(path).length;
    const writesAfter = world.herald.store.stats().writes;
    expect(requestsAfter - requestsBefore).toBeGreaterThanOrEqual(checks);
    expect(writesAfter - writesBefore).toBe(requestsAfter - requestsBefore);
  }

  it('answers a 304 for an unchanged ETag without parsing and with one store write per check, then posts when the feed changes', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Tagged');
    feed.publish(3);
    world.feeds.serve('/tagged.xml', { headers: RSS, body: feed.xml(), etag: '"v1"' });
    const url = world.feeds.url('/tagged.xml');
    await world.subscribe(url);

    await expectOneWritePerCheck(context, world, '/tagged.xml', 3);
    const conditional = world.feeds.requestsTo('/tagged.xml').slice(1);
    expect(conditional.every((request) => request.headers['if-none-match'] === '"v1"')).toBe(true);
    expect(await world.herald.store.feeds.get(url)).toMatchObject({ lastStatus: 304, etag: '"v1"' });
    expect(world.discord.messages(world.channel.id)).toHaveLength(0);

    const [fresh] = feed.publish(1);
    world.feeds.serve('/tagged.xml', { headers: RSS, body: feed.xml(), etag: '"v2"' });
    const [posted] = await world.discord.waitForMessages(world.channel.id, 1);
    expect(posted?.embeds[0]?.title).toBe(fresh!.title);
  });

  it('answers a 304 for an unchanged Last-Modified with one store write per check', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Dated');
    feed.publish(3);
    const stamp = 'Wed, 01 Jan 2025 00:03:00 GMT';
    world.feeds.serve('/dated.xml', { headers: RSS, body: feed.xml(), lastModified: stamp });
    const url = world.feeds.url('/dated.xml');
    await world.subscribe(url);

    await expectOneWritePerCheck(context, world, '/dated.xml', 3);
    const conditional = world.feeds.requestsTo('/dated.xml').slice(1);
    expect(conditional.every((request) => request.headers['if-modified-since'] === stamp)).toBe(true);
    expect(await world.herald.store.feeds.get(url)).toMatchObject({ lastStatus: 304 });
  });

  it('treats a 200 with an identical body and no validators as unchanged, with one store write per check, then posts when it changes', async (context) => {
    const { expect } = context;
    const world = await openWorld(context);
    const feed = new GrowingFeed('Plain');
    feed.publish(3);
    const url = world.serveFeed(feed, '/plain.xml');
    await world.subscribe(url);

    await expectOneWritePerCheck(context, world, '/plain.xml', 3);
    expect(await world.herald.store.feeds.get(url)).toMatchObject({ lastStatus: 200 });
    expect(world.discord.messages(world.channel.id)).toHaveLength(0);

    const [fresh] = feed.publish(1);
    const [posted] = await world.discord.waitForMessages(world.channel.id, 1);
    expect(posted?.embeds[0]?.title).toBe(fresh!.title);
  });
});
