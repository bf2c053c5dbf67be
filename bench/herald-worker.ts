/**
 * Herald's poll and delivery pipeline in a process of its own, wired exactly as src/index.ts wires
 * it (store on a SQLite file, undici feed source, concurrency gate, feed checker, scheduler,
 * deliverer with the REST announcer) minus the gateway client, which polling does not use. The
 * orchestrator starts a cycle by making every feed due at once through the scheduler and reads
 * back wall time, CPU time, store operations and memory.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REST } from 'discord.js';
import { createRestAnnouncer } from '../src/delivery/announcer';
import { createDeliverer, type QueuedAnnouncement } from '../src/delivery/deliverer';
import { renderFailureNotice } from '../src/delivery/notices';
import { renderMessage, renderMinimalMessage } from '../src/delivery/render';
import { createFeedSource, type ClosableFeedSource } from '../src/feeds/fetch';
import type { Feed, FeedItem } from '../src/feeds/types';
import { createSilentLogger } from '../src/logger';
import { createConcurrencyGate, type ConcurrencyGate } from '../src/poller/concurrency-gate';
import {
  createFeedChecker,
  type CheckResult,
  type CheckSettled,
  type DeliveryQueue,
  type FeedChecker,
} from '../src/poller/feed-checker';
import { createScheduler, type Scheduler } from '../src/poller/scheduler';
import {
  createKeyvStore,
  newSubscriptionId,
  uncheckedFeedState,
  type Store,
  type Subscription,
} from '../src/store';
import { storeKeys } from '../src/store/keys';
import { openKeyValueStore } from '../src/store/keyv-store';
import { USER_AGENT } from '../src/version';
import type { BenchChannel } from './discord-server';
import { cpuSeconds, cpuSecondsByThread, peakRssMb, serveCalls } from './ipc';
import { feedUrl } from './synthetic-feeds';

/** What the orchestrator tells a worker at start. */
export interface HeraldWorkerInit {
  port: number;
  /** Feed indices on the feed server, one subscription each. */
  indices: number[];
  /** Channels to subscribe in; feed k goes to `channels[⌊k / feedsPerChannel⌋]`. */
  channels: BenchChannel[];
  feedsPerChannel: number;
  discord: { apiBase: string; token: string };
  fetchConcurrency: number;
  hostConcurrency: number;
  /** Keep new items in the outbox instead of releasing them (the delivery benchmark releases them itself). */
  holdDelivery: boolean;
  /**
   * Experiment, off by default: lets at most this many checks run at once, which the product's
   * scheduler does not do (it starts every due check and only the fetch waits for the gate).
   */
  maxChecksInFlight?: number;
}

/** Runs at most `max` tasks at once, the rest in arrival order. */
function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** What one poll cycle cost. */
export interface CycleMeasurement {
  feeds: number;
  /** From making every feed due until the last check finished. */
  pollMs: number;
  /** Until delivery was idle too (equal to pollMs when nothing was posted). */
  totalMs: number;
  cpuSeconds: number;
  /** The part of cpuSeconds spent on the main thread (JavaScript) and on helper threads (GC, SQLite). */
  cpuByThread: { main: number; others: number } | null;
  outcomes: Record<string, number>;
  queued: number;
  storeReads: number;
  /** Database commits during the cycle (writes waiting at the same moment share one). */
  storeCommits: number;
  storeWrites: number;
  /** Most checks seen at once that had fetched and parsed their feed and waited for the store. */
  maxWaitingForStore: number;
  /** Highest RSS sampled during the cycle (MB). */
  cycleRssMb: number;
  /** Peak RSS of the process so far (MB). */
  peakRssMb: number;
  heapUsedMb: number;
  /** V8 heap reserved, and memory outside it (Buffers and other external allocations), at the end (MB). */
  heapTotalMb: number;
  externalMb: number;
}

/** What the delivery benchmark measured. */
export interface DeliveryMeasurement {
  subscriptions: number;
  queued: number;
  wallMs: number;
  cpuSeconds: number;
  /** Entries still in the outbox when delivery went idle (should be 0). */
  left: number;
  storeWrites: number;
}

const logger = createSilentLogger();

interface Running {
  dir: string;
  store: Store;
  source: ClosableFeedSource;
  scheduler: Scheduler;
  deliverer: ReturnType<typeof createDeliverer>;
  urls: string[];
  counters: { fetched: number };
  onCheck: ((result: CheckResult) => void) | null;
}

/** The gate's methods bound to it, so a wrapper can replace one and keep the others. */
function bindAll(gate: ConcurrencyGate): ConcurrencyGate {
  return {
    run: (host, task) => gate.run(host, task),
    enqueue: (host, task) => gate.enqueue(host, task),
    inFlight: () => gate.inFlight(),
    inFlightFor: (host) => gate.inFlightFor(host),
    waiting: () => gate.waiting(),
    backOffHost: (host, untilMs) => gate.backOffHost(host, untilMs),
    hostBlockedUntil: (host) => gate.hostBlockedUntil(host),
  };
}

let running: Running | null = null;

function composeAnnouncement(item: FeedItem, feed: Feed, subscription: Subscription): QueuedAnnouncement {
  const options = { mentionRoleId: subscription.mentionRoleId ?? null };
  return { message: renderMessage(item, feed, options), fallback: renderMinimalMessage(item, feed, options) };
}

/**
 * Writes the subscriptions and feed states in the store's documented layout (DESIGN.md, "Data
 * model"), one write per key. `subscriptions.create` would rewrite the whole `feeds` index for
 * every new feed (O(N²) bytes for N feeds), which is set-up cost, not what the bench measures.
 */
async function seed(databaseUrl: string, init: HeraldWorkerInit): Promise<string[]> {
  const { kv } = await openKeyValueStore(databaseUrl);
  const now = Date.now();
  const urls: string[] = [];
  const guildSubs = new Map<string, string[]>();
  let writes: Promise<void>[] = [];
  const flush = async () => {
    await Promise.all(writes);
    writes = [];
  };
  for (const [k, index] of init.indices.entries()) {
    const channel = init.channels[Math.floor(k / init.feedsPerChannel)];
    if (!channel) throw new RangeError(`no channel for feed ${k}`);
    const url = feedUrl(init.port, index);
    const subscription: Subscription = {
      id: newSubscriptionId(),
      guildId: channel.guildId,
      channelId: channel.channelId,
      feedUrl: url,
      createdBy: 'bench',
      createdAt: now,
      postedCount: 0,
    };
    const state = uncheckedFeedState({
      url,
      title: url,
      link: null,
      // Not due: cycles are started by the bench, all feeds at once.
      nextCheckAt: now + 86_400_000,
      intervalSeconds: 600,
    });
    urls.push(url);
    const ids = guildSubs.get(channel.guildId) ?? [];
    ids.push(subscription.id);
    guildSubs.set(channel.guildId, ids);
    writes.push(
      kv.set(storeKeys.subscription(subscription.id), subscription),
      kv.set(storeKeys.feedSubscriptions(url), [subscription.id]),
      kv.set(storeKeys.feedState(url), state),
    );
    if (writes.length >= 1500) await flush();
  }
  for (const [guildId, ids] of guildSubs) writes.push(kv.set(storeKeys.guildSubscriptions(guildId), ids));
  writes.push(kv.set(storeKeys.feedIndex, urls));
  await flush();
  await kv.close();
  return urls;
}

async function start(init: HeraldWorkerInit): Promise<{ feeds: number; seedMs: number; rssMb: number }> {
  if (running) throw new Error('already started');
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-'));
  const databaseUrl = `sqlite://${path.join(dir, 'herald.sqlite')}`;
  const seedStarted = performance.now();
  const urls = await seed(databaseUrl, init);
  const seedMs = performance.now() - seedStarted;

  const store = await createKeyvStore(databaseUrl);
  const source = createFeedSource({
    timeoutMs: 15_000,
    maxBytes: 10 * 1024 * 1024,
    allowPrivateNetwork: true,
    userAgent: USER_AGENT,
  });
  const rest = new REST({ api: init.discord.apiBase }).setToken(init.discord.token);
  const deliverer = createDeliverer({ store, announcer: createRestAnnouncer(rest), logger });
  const held: DeliveryQueue = { release: () => undefined };
  const gate = createConcurrencyGate({ global: init.fetchConcurrency, perHost: init.hostConcurrency });
  const counters = { fetched: 0 };
  // Counts checks leaving the gate (fetched and parsed), to see how many then wait for the store.
  const countingGate: ConcurrencyGate = {
    ...bindAll(gate),
    run: (host, task) =>
      gate.run(host, task).finally(() => {
        counters.fetched++;
      }),
    enqueue: (host, task) =>
      gate.enqueue(host, () => {
        const running = task();
        const count = () => {
          counters.fetched++;
        };
        running.then(count, count);
        return running;
      }),
  };
  const checker = createFeedChecker({
    store,
    source,
    gate: countingGate,
    delivery: init.holdDelivery ? held : deliverer,
    composeAnnouncement,
    composeFailureNotice: renderFailureNotice,
    policy: { baseSeconds: 600, minSeconds: 60 },
    logger,
  });
  const state: Running = {
    dir,
    store,
    source,
    scheduler: null as unknown as Scheduler,
    deliverer,
    urls,
    counters,
    onCheck: null,
  };
  // Observes each check for the cycle's bookkeeping; the check itself is the product's.
  const limit = init.maxChecksInFlight ? createLimiter(init.maxChecksInFlight) : null;
  const observed: FeedChecker = {
    queue(url, done) {
      const report = (checked: string, settled: CheckSettled) => {
        if (settled.status === 'fulfilled') state.onCheck?.(settled.value);
        done(checked, settled);
      };
      if (!limit) {
        checker.queue(url, report);
        return;
      }
      void limit(
        () =>
          new Promise<void>((resolve) => {
            checker.queue(url, (checked, settled) => {
              report(checked, settled);
              resolve();
            });
          }),
      );
    },
  };
  state.scheduler = createScheduler({
    feeds: store.feeds,
    checker: observed,
    baseSeconds: 600,
    onError: (url, error) => console.error(`bench: check of ${url} crashed`, error),
  });
  await state.scheduler.start();
  running = state;
  return { feeds: urls.length, seedMs, rssMb: process.memoryUsage.rss() / 1024 / 1024 };
}

function requireRunning(): Running {
  if (!running) throw new Error('not started');
  return running;
}

/**
 * Samples while a cycle runs: RSS (maxRSS alone cannot say which cycle reached the peak) and how
 * many checks had been fetched and parsed but were not finished, i.e. waited for the store.
 */
function sample(backlog: () => number): { stop(): { rssMb: number; backlog: number } } {
  let peak = process.memoryUsage.rss();
  let most = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    most = Math.max(most, backlog());
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return { rssMb: Math.max(peak, process.memoryUsage.rss()) / 1024 / 1024, backlog: most };
    },
  };
}

/** Where a profiled cycle's profiles go (open either in Chrome DevTools). */
export interface ProfileFiles {
  /** V8 CPU profile. */
  cpu?: string;
  /**
   * Sampling heap profile of what the cycle allocated that outlived a scavenge: what it promoted
   * to the old generation, whose collections (mark-compacts) are most of a cycle's GC time.
   */
  heap?: string;
  /** With `heap`: keep what scavenges freed too, i.e. profile everything the cycle allocated. */
  allAllocations?: boolean;
}

/** Runs `work` under the profilers `files` asks for and writes their profiles. */
async function profiled<T>(files: ProfileFiles | undefined, work: () => Promise<T>): Promise<T> {
  if (!files) return work();
  const session = new Session();
  session.connect();
  if (files.cpu) {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  if (files.heap) {
    await session.post('HeapProfiler.enable');
    // Node 20's typings lack the two flags; V8 11 takes them. Objects a scavenge frees leave the
    // profile, those a mark-compact frees stay: what is left is what was promoted, or is still live.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: files.allAllocations === true,
    } as { samplingInterval: number });
  }
  try {
    return await work();
  } finally {
    if (files.cpu) writeProfile(files.cpu, (await session.post('Profiler.stop')).profile);
    if (files.heap) writeProfile(files.heap, (await session.post('HeapProfiler.stopSampling')).profile);
    session.disconnect();
  }
}

function writeProfile(file: string, profile: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(profile));
}

async function cycle(params: { profile?: ProfileFiles } = {}): Promise<CycleMeasurement> {
  return profiled(params.profile, measureCycle);
}

async function measureCycle(): Promise<CycleMeasurement> {
  const run = requireRunning();
  const outcomes: Record<string, number> = {};
  let queued = 0;
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  run.onCheck = (result) => {
    outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
    if (result.outcome !== 'removed') queued += result.queued;
    if (++done === run.urls.length) finish();
  };
  const fetchedBefore = run.counters.fetched;
  const sampler = sample(() => run.counters.fetched - fetchedBefore - done);
  const before = {
    cpu: cpuSeconds(),
    threads: cpuSecondsByThread(),
    stats: run.store.stats(),
    at: performance.now(),
  };
  const due = Date.now();
  for (const url of run.urls) run.scheduler.schedule(url, due);
  await finished;
  const pollMs = performance.now() - before.at;
  await run.deliverer.idle();
  const totalMs = performance.now() - before.at;
  const cpu = cpuSeconds() - before.cpu;
  const threads = cpuSecondsByThread();
  const stats = run.store.stats();
  run.onCheck = null;
  const sampled = sampler.stop();
  return {
    feeds: run.urls.length,
    pollMs,
    totalMs,
    cpuSeconds: cpu,
    cpuByThread:
      threads && before.threads
        ? { main: threads.main - before.threads.main, others: threads.others - before.threads.others }
        : null,
    outcomes,
    queued,
    storeReads: stats.reads - before.stats.reads,
    storeCommits: stats.commits - before.stats.commits,
    storeWrites: stats.writes - before.stats.writes,
    cycleRssMb: sampled.rssMb,
    maxWaitingForStore: sampled.backlog,
    peakRssMb: peakRssMb(),
    ...memoryAtEnd(),
  };
}

/** Releases every pending outbox with `perSubscription` allowance and waits until delivery is idle. */
async function deliverAll(params: {
  perSubscription: number;
  profile?: ProfileFiles;
}): Promise<DeliveryMeasurement> {
  return profiled(params.profile, () => measureDelivery(params.perSubscription));
}

async function measureDelivery(perSubscription: number): Promise<DeliveryMeasurement> {
  const run = requireRunning();
  const ids = await run.store.outbox.pendingSubscriptionIds();
  let queued = 0;
  for (const id of ids) queued += (await run.store.outbox.list(id)).length;
  const before = { cpu: cpuSeconds(), stats: run.store.stats(), at: performance.now() };
  for (const id of ids) run.deliverer.release(id, perSubscription);
  await run.deliverer.idle();
  const wallMs = performance.now() - before.at;
  const cpu = cpuSeconds() - before.cpu;
  const writes = run.store.stats().writes - before.stats.writes;
  let left = 0;
  for (const id of ids) left += (await run.store.outbox.list(id)).length;
  return { subscriptions: ids.length, queued, wallMs, cpuSeconds: cpu, left, storeWrites: writes };
}

/** Feed k's subscription channel and the number of items it posted, for checking deliveries. */
async function subscriptionsByFeed(): Promise<
  Array<{ url: string; channelId: string; postedCount: number }>
> {
  const run = requireRunning();
  const rows: Array<{ url: string; channelId: string; postedCount: number }> = [];
  for (const url of run.urls) {
    for (const sub of await run.store.subscriptions.listByFeed(url))
      rows.push({ url, channelId: sub.channelId, postedCount: sub.postedCount });
  }
  return rows;
}

function databaseBytes(dir: string): number {
  let total = 0;
  for (const name of ['herald.sqlite', 'herald.sqlite-wal']) {
    try {
      total += statSync(path.join(dir, name)).size;
    } catch {
      // The WAL may have been checkpointed away.
    }
  }
  return total;
}

async function stop(): Promise<{ peakRssMb: number; databaseMb: number }> {
  const run = running;
  if (!run) return { peakRssMb: peakRssMb(), databaseMb: 0 };
  running = null;
  const databaseMb = databaseBytes(run.dir) / 1024 / 1024;
  await run.scheduler.stop(5000);
  await run.deliverer.stop(5000);
  await run.source.close();
  await run.store.close();
  rmSync(run.dir, { recursive: true, force: true });
  return { peakRssMb: peakRssMb(), databaseMb };
}

serveCalls(
  {
    start,
    cycle,
    deliverAll,
    subscriptionsByFeed,
    stop,
    memory: () => ({ peakRssMb: peakRssMb(), ...process.memoryUsage() }),
  },
  async () => {
    await stop();
  },
);

function memoryAtEnd(): Pick<CycleMeasurement, 'heapUsedMb' | 'heapTotalMb' | 'externalMb'> {
  const { heapUsed, heapTotal, external } = process.memoryUsage();
  const mb = (bytes: number) => bytes / 1024 / 1024;
  return { heapUsedMb: mb(heapUsed), heapTotalMb: mb(heapTotal), externalMb: mb(external) };
}
