/**
 * `npm run bench [-- --feeds N --json]`: Herald's poll and delivery pipeline measured against a
 * naive baseline and the HTTP limit, on this machine, with every part in its own process:
 * the feed server, the local Discord, Herald, and each baseline. See bench/README.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BaselineInit, BaselineMeasurement, ParseMeasurement } from './baseline-worker';
import {
  GLOBAL_LIMIT,
  MESSAGE_LIMIT,
  type BenchChannel,
  type DeliveryMark,
  type DeliveryReport,
} from './discord-server';
import type { FeedServerSettings, FeedServerStats } from './feed-server';
import type { CycleMeasurement, DeliveryMeasurement, HeraldWorkerInit, ProfileFiles } from './herald-worker';
import { spawnBenchProcess, type BenchProcess } from './ipc';
import {
  DELIVERY_FEED_BASE,
  FEEDS_PER_CHANNEL,
  FEEDS_PER_GUILD,
  FEEDS_PER_HOST,
  ITEMS_PER_FEED,
  itemLink,
} from './synthetic-feeds';

/** The bench was started with flags it does not understand. */
export class BenchUsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BenchUsageError';
  }
}

interface Options {
  feeds: number;
  json: boolean;
  scaling: number[];
  validatorShare: number;
  fetchConcurrency: number;
  hostConcurrency: number;
  deliveryItems: number;
  deliveryChannels: number;
  cpuProfile: boolean;
  heapProfile: false | 'promoted' | 'allocated';
  scenarios: Scenario[];
  delivery: boolean;
  /** Node flags for the Herald processes: by default those of `npm start`. */
  heraldNodeFlags: string[];
  /** Environment variables for the Herald processes: by default those `npm start` sets. */
  heraldEnv: Record<string, string>;
  /** Experiment: at most this many feed checks in flight (the product starts every due check at once). */
  boundChecks: number | null;
}

const SCENARIOS = ['cold', 'warm-304', 'warm-unchanged', 'changed-1%'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** Where `--cpu-prof`, `--heap-prof` and `--alloc-prof` put one profile per Herald cycle (outside the repository). */
const PROFILE_DIR = path.join(tmpdir(), 'herald-bench-profiles');

/** Passes of the HTTP limit loop per scenario; the fastest counts (a single short pass is noisy). */
const LIMIT_PASSES = 3;

/** Passes of Herald's warm cycles (which find the feeds as the last one left them); the fastest counts. */
const HERALD_WARM_PASSES = 3;

/** Scenarios a cycle leaves as it found them, so they can be run again. */
const REPEATABLE_SCENARIOS: ReadonlySet<Scenario> = new Set(['warm-304', 'warm-unchanged']);

/** Share of feeds that publish one item before the "changed" cycle. */
const CHANGED_SHARE = 0.01;

const USAGE = `usage: npm run bench -- [--feeds N] [--json] [--scaling 1000,5000,20000|none]
                       [--validator-share 0..1] [--concurrency 32] [--host-concurrency 4]
                       [--scenarios cold,warm-304,warm-unchanged,changed-1%] [--no-delivery] [--cpu-prof] [--heap-prof|--alloc-prof]
                       [--herald-node-flags "--max-old-space-size=128"|none] [--herald-env "NAME=value …"|none]
                       [--bound-checks 64]`;

/** How `npm start` launches Herald: the environment it sets and the Node flags it passes. */
interface StartLaunch {
  env: Record<string, string>;
  nodeFlags: string[];
}

/**
 * The environment (`env NAME=value`) and Node flags (heap tuning) of `npm start`, read from
 * package.json so the bench measures the process users run.
 */
function startScriptLaunch(): StartLaunch {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const words = (manifest.scripts?.start ?? '').split(/\s+/);
  const node = words.indexOf('node');
  const env = Object.fromEntries(
    words
      .slice(0, Math.max(0, node))
      .map(envAssignment)
      .filter((pair) => pair !== null),
  );
  const nodeFlags: string[] = [];
  for (const word of words.slice(node + 1)) {
    if (!word.startsWith('--') || word === '--import') break;
    nodeFlags.push(word);
  }
  return { env, nodeFlags };
}

/** `NAME=value` as a name and a value, or null when the word is not an assignment. */
function envAssignment(word: string): [string, string] | null {
  const match = /^([A-Za-z_]\w*)=(.*)$/.exec(word);
  return match?.[1] !== undefined && match[2] !== undefined ? [match[1], match[2]] : null;
}

const START = startScriptLaunch();

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    feeds: 5000,
    json: false,
    scaling: [1000, 5000, 20_000],
    validatorShare: 1,
    fetchConcurrency: 32,
    hostConcurrency: 4,
    deliveryItems: 1000,
    deliveryChannels: 50,
    cpuProfile: false,
    heapProfile: false,
    scenarios: [...SCENARIOS],
    delivery: true,
    heraldNodeFlags: START.nodeFlags,
    heraldEnv: START.env,
    boundChecks: null,
  };
  const value = (i: number, name: string): string => {
    const next = argv[i + 1];
    if (next === undefined) throw new BenchUsageError(`${name} needs a value\n${USAGE}`);
    return next;
  };
  const count = (raw: string, name: string, min: number): number => {
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min)
      throw new BenchUsageError(`${name} must be a whole number ≥ ${min}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--feeds':
        options.feeds = count(value(i++, arg), arg, 100);
        break;
      case '--json':
        options.json = true;
        break;
      case '--scaling': {
        const raw = value(i++, arg);
        options.scaling = raw === 'none' ? [] : raw.split(',').map((part) => count(part, arg, 100));
        break;
      }
      case '--validator-share': {
        const share = Number(value(i++, arg));
        if (!(share >= 0 && share <= 1))
          throw new BenchUsageError(`--validator-share must be from 0 to 1\n${USAGE}`);
        options.validatorShare = share;
        break;
      }
      case '--concurrency':
        options.fetchConcurrency = count(value(i++, arg), arg, 1);
        break;
      case '--host-concurrency':
        options.hostConcurrency = count(value(i++, arg), arg, 1);
        break;
      case '--cpu-prof':
        options.cpuProfile = true;
        break;
      case '--heap-prof':
        options.heapProfile = 'promoted';
        break;
      case '--alloc-prof':
        options.heapProfile = 'allocated';
        break;
      case '--scenarios': {
        const names = value(i++, arg).split(',');
        const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
        if (unknown.length > 0) throw new BenchUsageError(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
        options.scenarios = SCENARIOS.filter((name) => names.includes(name));
        break;
      }
      case '--no-delivery':
        options.delivery = false;
        break;
      case '--bound-checks':
        options.boundChecks = count(value(i++, arg), arg, 1);
        break;
      case '--herald-env':
        options.heraldEnv = Object.fromEntries(
          value(i++, arg)
            .split(/\s+/)
            .filter((word) => word !== '' && word !== 'none')
            .map((word) => {
              const pair = envAssignment(word);
              if (!pair) throw new BenchUsageError(`${arg} takes NAME=value words (got ${word})\n${USAGE}`);
              return pair;
            }),
        );
        break;
      case '--herald-node-flags':
        options.heraldNodeFlags = value(i++, arg)
          .split(/\s+/)
          .filter((flag) => flag !== '' && flag !== 'none');
        break;
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new BenchUsageError(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Results

interface ScenarioResult {
  herald: CycleMeasurement & { feedsPerSecond: number; cpuSecondsPer1000: number; writesPerFeed: number };
  server: FeedServerStats;
  limit?: BaselineMeasurement & { feedsPerSecond: number; cpuSecondsPer1000: number };
  naive?: BaselineMeasurement & { feedsPerSecond: number; cpuSecondsPer1000: number };
  /** Herald's feeds/s over the HTTP limit's (1 = as fast as bare HTTP). */
  heraldOverLimit?: number;
  /** Naive cycle time over Herald's: how many times faster Herald is. */
  naiveOverHerald?: number;
  /** changed-1%: what reached the fake Discord. */
  delivery?: DeliveryCheck;
}

interface DeliveryCheck {
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  rateLimited: number;
  maxRateLimitedPerChannel: number;
  globalRateLimited: number;
}

interface PollRun {
  feeds: number;
  hosts: number;
  seedMs: number;
  scenarios: Partial<Record<Scenario, ScenarioResult>>;
  parse?: ParseMeasurement & { cpuMsPerFeed: number };
  /** Herald's own path from body to encoded records on the same bodies, one feed at a time. */
  heraldPath?: ParseMeasurement & { cpuMsPerFeed: number };
  /** RSS once the store was seeded and the pipeline built, before any cycle (MB). */
  startRssMb: number;
  peakRssMb: number;
  databaseMb: number;
}

interface DeliveryRun extends DeliveryCheck {
  items: number;
  channels: number;
  limits: { messages: typeof MESSAGE_LIMIT; global: typeof GLOBAL_LIMIT };
  allowancePerSubscription: number;
  wallMs: number;
  theoreticalMinimumMs: number;
  wallOverMinimum: number;
  cpuSeconds: number;
  storeWrites: number;
  left: number;
}

interface Target {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
}

// ---------------------------------------------------------------------------------------------
// Runs

interface World {
  options: Options;
  feedServer: BenchProcess;
  discord: BenchProcess;
  port: number;
  progress(message: string): void;
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

function perSecond(feeds: number, ms: number): number {
  return ms > 0 ? feeds / (ms / 1000) : 0;
}

/** Where the profiling flags write the profiles of one Herald cycle, or undefined when not profiling. */
function profileFile(world: World, label: string): ProfileFiles | undefined {
  const { cpuProfile, heapProfile } = world.options;
  if (!cpuProfile && !heapProfile) return undefined;
  const base = path.join(PROFILE_DIR, `herald-${label}`);
  const files: ProfileFiles = {
    ...(cpuProfile ? { cpu: `${base}.cpuprofile` } : {}),
    ...(heapProfile ? { heap: `${base}.heapprofile` } : {}),
    ...(heapProfile === 'allocated' ? { allAllocations: true } : {}),
  };
  world.progress(`profiling into ${[files.cpu, files.heap].filter(Boolean).join(' and ')}`);
  return files;
}

const bundles = new Map<string, Promise<string>>();

/**
 * A bench worker bundled like `npm run build` bundles Herald (esbuild, packages external), so it
 * runs on plain node as `npm start` does: no TypeScript loader thread, whose ~35 MB would count
 * in Herald's memory, and none of the loader's extra work in Herald's code. Built once per bench
 * run, next to the product's bundle in dist/ (one level below package.json, as version.ts expects).
 */
function bundledWorker(source: string, bundle: string): Promise<string> {
  let built = bundles.get(bundle);
  if (!built) {
    built = build({
      entryPoints: [fileURLToPath(new URL(source, import.meta.url))],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      packages: 'external',
      sourcemap: true,
      logLevel: 'warning',
      outfile: fileURLToPath(new URL(bundle, import.meta.url)),
    }).then(() => bundle);
    bundles.set(bundle, built);
  }
  return built;
}

async function startHerald(
  world: World,
  init: Omit<HeraldWorkerInit, 'port' | 'discord' | 'fetchConcurrency' | 'hostConcurrency'>,
  discord: { apiBase: string; token: string },
  label: string,
): Promise<{ worker: BenchProcess; seedMs: number; startRssMb: number }> {
  const worker = await spawnBenchProcess(
    `herald-${label}`,
    await bundledWorker('./herald-worker.ts', '../dist/bench-herald-worker.mjs'),
    {
      nodeFlags: world.options.heraldNodeFlags,
      env: world.options.heraldEnv,
    },
  );
  const started = await worker.call<{ seedMs: number; rssMb: number }>('start', {
    ...init,
    ...(world.options.boundChecks !== null ? { maxChecksInFlight: world.options.boundChecks } : {}),
    port: world.port,
    discord,
    fetchConcurrency: world.options.fetchConcurrency,
    hostConcurrency: world.options.hostConcurrency,
  } satisfies HeraldWorkerInit);
  return { worker, seedMs: started.seedMs, startRssMb: started.rssMb };
}

async function startBaseline(
  world: World,
  mode: BaselineInit['mode'],
  indices: number[],
): Promise<BenchProcess> {
  // The CPU-only parse measurements run Herald's code, so they run bundled on plain node like
  // Herald; the HTTP loops keep the loader they always had, so their figures stay comparable.
  const script =
    mode === 'parse'
      ? await bundledWorker('./baseline-worker.ts', '../dist/bench-baseline-worker.mjs')
      : './baseline-worker.ts';
  const worker = await spawnBenchProcess(mode, script);
  await worker.call('start', {
    mode,
    port: world.port,
    indices,
    fetchConcurrency: world.options.fetchConcurrency,
    hostConcurrency: world.options.hostConcurrency,
  } satisfies BaselineInit);
  return worker;
}

/** Sets the server up for a scenario; returns the feeds that published an item. */
async function prepareScenario(world: World, scenario: Scenario, indices: number[]): Promise<number[]> {
  await world.feedServer.call('setValidators', { on: scenario !== 'warm-unchanged' });
  if (scenario !== 'changed-1%') return [];
  const every = Math.round(1 / CHANGED_SHARE);
  const changed = indices.filter((_, k) => k % every === every - 1);
  await world.feedServer.call('publish', { indices: changed, count: 1 });
  return changed;
}

/** Compares what reached Discord with what should have, channel by channel. */
function checkDeliveries(expectedByChannel: Map<string, string[]>, report: DeliveryReport): DeliveryCheck {
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  for (const [channelId, urls] of expectedByChannel) {
    const posted = report.posted[channelId] ?? [];
    const counts = new Map<string, number>();
    for (const url of posted) counts.set(url, (counts.get(url) ?? 0) + 1);
    expected += urls.length;
    for (const url of urls) {
      const n = counts.get(url) ?? 0;
      if (n === 0) lost++;
      else delivered++;
      if (n > 1) duplicated += n - 1;
    }
    const wanted = new Set(urls);
    unexpected += posted.filter((url) => !wanted.has(url)).length;
  }
  const perChannel = Object.values(report.rateLimitedByChannel);
  return {
    expected,
    delivered,
    lost,
    duplicated,
    unexpected,
    rateLimited: perChannel.reduce((a, b) => a + b, 0),
    maxRateLimitedPerChannel: Math.max(0, ...perChannel),
    globalRateLimited: report.globalRateLimited,
  };
}

async function pollRun(
  world: World,
  feeds: number,
  withBaselines: boolean,
  scenarios: readonly Scenario[],
): Promise<PollRun> {
  const { feedServer, discord } = world;
  const indices = range(0, feeds);
  world.progress(`${feeds} feeds: preparing the feed server and the local Discord`);
  await feedServer.call('prepare', { indices });
  const setup = await discord.call<{ apiBase: string; token: string; channels: BenchChannel[] }>('setup', {
    guilds: Math.ceil(feeds / FEEDS_PER_GUILD),
    channelsPerGuild: FEEDS_PER_GUILD / FEEDS_PER_CHANNEL,
  });
  const {
    worker: herald,
    seedMs,
    startRssMb,
  } = await startHerald(
    world,
    { indices, channels: setup.channels, feedsPerChannel: FEEDS_PER_CHANNEL, holdDelivery: false },
    setup,
    String(feeds),
  );
  const limit = withBaselines ? await startBaseline(world, 'limit', indices) : null;
  const naive = withBaselines ? await startBaseline(world, 'naive', indices) : null;
  const run: PollRun = {
    feeds,
    hosts: Math.ceil(feeds / FEEDS_PER_HOST),
    seedMs,
    startRssMb,
    scenarios: {},
    peakRssMb: 0,
    databaseMb: 0,
  };
  try {
    for (const scenario of scenarios) {
      const changed = await prepareScenario(world, scenario, indices);
      const mark = await discord.call<DeliveryMark>('mark');
      world.progress(`${feeds} feeds: ${scenario}: Herald`);
      // Warm cycles can be repeated as they are: like the HTTP limit, the fastest of a few counts.
      // Their passes alternate with the limit's (Herald, limit, Herald, …), so that both see the
      // same moments of a machine whose speed drifts.
      const repeatable = REPEATABLE_SCENARIOS.has(scenario);
      const passes = repeatable ? HERALD_WARM_PASSES : 1;
      let best: { cycle: CycleMeasurement; server: FeedServerStats } | null = null;
      let bestLimit: BaselineMeasurement | null = null;
      for (let pass = 0; pass < passes; pass++) {
        await feedServer.call('takeStats');
        const measured = await herald.call<CycleMeasurement>('cycle', {
          // The last pass: the first warm one after the baselines' cycles may reconnect every socket.
          ...(pass === passes - 1 ? { profile: profileFile(world, `${feeds}-${scenario}`) } : {}),
        });
        const stats = await feedServer.call<FeedServerStats>('takeStats');
        if (!best || measured.pollMs < best.cycle.pollMs) best = { cycle: measured, server: stats };
        if (repeatable && limit) {
          const limitPass = await limit.call<BaselineMeasurement>('cycle', { passes: 1 });
          if (!bestLimit || limitPass.wallMs < bestLimit.wallMs) bestLimit = limitPass;
        }
      }
      if (!best) throw new Error(`no ${scenario} cycle ran`);
      const { cycle, server } = best;
      const result: ScenarioResult = {
        herald: {
          ...cycle,
          feedsPerSecond: perSecond(feeds, cycle.pollMs),
          cpuSecondsPer1000: (cycle.cpuSeconds / feeds) * 1000,
          writesPerFeed: cycle.storeWrites / feeds,
        },
        server,
      };
      if (changed.length > 0) result.delivery = await checkChanged(world, herald, changed, mark);
      for (const [name, worker] of [
        ['limit', limit],
        ['naive', naive],
      ] as const) {
        if (!worker) continue;
        world.progress(`${feeds} feeds: ${scenario}: ${name}`);
        const measured =
          name === 'limit' && bestLimit
            ? bestLimit
            : await worker.call<BaselineMeasurement>('cycle', { passes: LIMIT_PASSES });
        result[name] = {
          ...measured,
          feedsPerSecond: perSecond(feeds, measured.wallMs),
          cpuSecondsPer1000: (measured.cpuSeconds / feeds) * 1000,
        };
      }
      if (result.limit) result.heraldOverLimit = result.herald.feedsPerSecond / result.limit.feedsPerSecond;
      if (result.naive) result.naiveOverHerald = result.naive.wallMs / result.herald.pollMs;
      run.scenarios[scenario] = result;
    }
  } finally {
    const stopped = await herald.call<{ peakRssMb: number; databaseMb: number }>('stop').catch(() => null);
    run.peakRssMb = stopped?.peakRssMb ?? 0;
    run.databaseMb = stopped?.databaseMb ?? 0;
    await herald.close();
    await limit?.close();
    await naive?.close();
  }
  if (withBaselines) {
    // Each in a fresh process, so that both start with nothing compiled, as Herald's cold cycle does.
    world.progress(`${feeds} feeds: rss-parser parseString on the same bodies`);
    const parse = await measureParsing(world, indices, 'parseCost');
    run.parse = { ...parse, cpuMsPerFeed: (parse.cpuSeconds / parse.feeds) * 1000 };
    world.progress(`${feeds} feeds: Herald's own path on the same bodies, one feed at a time`);
    const path = await measureParsing(world, indices, 'heraldPathCost');
    run.heraldPath = { ...path, cpuMsPerFeed: (path.cpuSeconds / path.feeds) * 1000 };
  }
  return run;
}

/** Runs one of the parse worker's CPU-only measurements in a process of its own. */
async function measureParsing(
  world: World,
  indices: number[],
  call: 'parseCost' | 'heraldPathCost',
): Promise<ParseMeasurement> {
  const worker = await startBaseline(world, 'parse', indices);
  try {
    return await worker.call<ParseMeasurement>(call);
  } finally {
    await worker.close();
  }
}

async function checkChanged(
  world: World,
  herald: BenchProcess,
  changed: number[],
  mark: DeliveryMark,
): Promise<DeliveryCheck> {
  const rows = await herald.call<Array<{ url: string; channelId: string }>>('subscriptionsByFeed');
  const channelOf = new Map(rows.map((row) => [row.url, row.channelId]));
  const expectedByChannel = new Map<string, string[]>();
  for (const index of changed) {
    const url = rows.find((row) => row.url.endsWith(`/feeds/${index}.xml`))?.url;
    const channelId = url ? channelOf.get(url) : undefined;
    if (!channelId) continue;
    const count = await world.feedServer.call<number>('itemCount', { index });
    const list = expectedByChannel.get(channelId) ?? [];
    list.push(itemLink(index, count));
    expectedByChannel.set(channelId, list);
  }
  const report = await world.discord.call<DeliveryReport>('report', {
    mark,
    channelIds: [...expectedByChannel.keys()],
  });
  return checkDeliveries(expectedByChannel, report);
}

/**
 * The least time `items` posts spread evenly over `channels` can take under both limits, with
 * fixed windows: the last post goes out when the last window it needs opens.
 */
export function theoreticalMinimumMs(items: number, channels: number): number {
  const perChannel = Math.ceil(items / channels);
  const channelBound = (Math.ceil(perChannel / MESSAGE_LIMIT.limit) - 1) * MESSAGE_LIMIT.windowMs;
  const globalBound = (Math.ceil(items / GLOBAL_LIMIT.limit) - 1) * GLOBAL_LIMIT.windowMs;
  return Math.max(channelBound, globalBound);
}

async function deliveryRun(world: World): Promise<DeliveryRun> {
  const { options, feedServer, discord } = world;
  const channelsCount = options.deliveryChannels;
  const perSubscription = Math.ceil(options.deliveryItems / channelsCount);
  const indices = range(DELIVERY_FEED_BASE, channelsCount);
  world.progress(`delivery: ${perSubscription * channelsCount} items into ${channelsCount} channels`);
  await feedServer.call('setValidators', { on: true });
  await feedServer.call('prepare', { indices });
  const setup = await discord.call<{ apiBase: string; token: string; channels: BenchChannel[] }>('setup', {
    guilds: 1,
    channelsPerGuild: channelsCount,
  });
  const { worker } = await startHerald(
    world,
    { indices, channels: setup.channels, feedsPerChannel: 1, holdDelivery: true },
    setup,
    'delivery',
  );
  try {
    await worker.call<CycleMeasurement>('cycle');
    await feedServer.call('publish', { indices, count: perSubscription });
    const filled = await worker.call<CycleMeasurement>('cycle');
    if (filled.queued !== perSubscription * channelsCount) {
      throw new Error(
        `expected ${perSubscription * channelsCount} queued posts, the checker queued ${filled.queued}`,
      );
    }
    const mark = await discord.call<DeliveryMark>('mark');
    const measured = await worker.call<DeliveryMeasurement>('deliverAll', {
      perSubscription,
      profile: profileFile(world, 'delivery'),
    });
    const expectedByChannel = new Map<string, string[]>();
    for (const [k, index] of indices.entries()) {
      const channel = setup.channels[k];
      if (!channel) continue;
      const count = await feedServer.call<number>('itemCount', { index });
      expectedByChannel.set(
        channel.channelId,
        range(count - perSubscription + 1, perSubscription).map((n) => itemLink(index, n)),
      );
    }
    const report = await discord.call<DeliveryReport>('report', {
      mark,
      channelIds: [...expectedByChannel.keys()],
    });
    const check = checkDeliveries(expectedByChannel, report);
    const minimum = theoreticalMinimumMs(perSubscription * channelsCount, channelsCount);
    return {
      ...check,
      items: perSubscription * channelsCount,
      channels: channelsCount,
      limits: { messages: MESSAGE_LIMIT, global: GLOBAL_LIMIT },
      allowancePerSubscription: perSubscription,
      wallMs: measured.wallMs,
      theoreticalMinimumMs: minimum,
      wallOverMinimum: measured.wallMs / minimum,
      cpuSeconds: measured.cpuSeconds,
      storeWrites: measured.storeWrites,
      left: measured.left,
    };
  } finally {
    await worker.call('stop').catch(() => null);
    await worker.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function targetsOf(main: PollRun, delivery: DeliveryRun | null, scaling: PollRun[]): Target[] {
  const targets: Target[] = [];
  const warm = main.scenarios['warm-304'];
  if (warm?.heraldOverLimit !== undefined && warm.naiveOverHerald !== undefined) {
    targets.push({
      name: 'warm-304 vs HTTP limit',
      target: '≥ 0.70 × limit feeds/s',
      measured: `${warm.heraldOverLimit.toFixed(2)} × (${fmt(warm.herald.feedsPerSecond)} vs ${fmt(warm.limit?.feedsPerSecond ?? 0)} feeds/s)`,
      pass: warm.heraldOverLimit >= 0.7,
    });
    targets.push({
      name: 'warm-304 vs naive',
      target: '≥ 5 × faster',
      measured: `${warm.naiveOverHerald.toFixed(1)} × faster`,
      pass: warm.naiveOverHerald >= 5,
    });
  }
  const cold = main.scenarios.cold;
  if (cold?.limit && main.parse) {
    const herald = (cold.herald.cpuSeconds / main.feeds) * 1000;
    const limit = (cold.limit.cpuSeconds / main.feeds) * 1000;
    const budget = 1.5 * (main.parse.cpuMsPerFeed + limit);
    targets.push({
      name: 'cold CPU per feed',
      target: `≤ 1.5 × (parseString ${main.parse.cpuMsPerFeed.toFixed(2)} ms + HTTP ${limit.toFixed(2)} ms) = ${budget.toFixed(2)} ms`,
      measured: `${herald.toFixed(2)} ms (${(herald / (main.parse.cpuMsPerFeed + limit)).toFixed(2)} ×)`,
      pass: herald <= budget,
    });
  }
  if (delivery) {
    targets.push({
      name: 'delivery wall time',
      target: `≤ 1.15 × minimum ${(delivery.theoreticalMinimumMs / 1000).toFixed(1)} s`,
      measured: `${(delivery.wallMs / 1000).toFixed(1)} s (${delivery.wallOverMinimum.toFixed(2)} ×)`,
      pass: delivery.wallOverMinimum <= 1.15,
    });
    targets.push({
      name: 'delivery lost / duplicated',
      target: '0 / 0',
      measured: `${delivery.lost} / ${delivery.duplicated}`,
      pass: delivery.lost === 0 && delivery.duplicated === 0 && delivery.unexpected === 0,
    });
    targets.push({
      name: 'delivery 429s per channel',
      target: '≤ 1',
      measured: `max ${delivery.maxRateLimitedPerChannel} (total ${delivery.rateLimited})`,
      pass: delivery.maxRateLimitedPerChannel <= 1,
    });
  }
  const all = [main, ...scaling];
  const at = (n: number) => all.find((run) => run.feeds === n);
  const big = at(20_000);
  if (big) {
    targets.push({
      name: 'peak RSS at 20,000 feeds',
      target: '≤ 300 MB',
      measured: `${big.peakRssMb.toFixed(0)} MB`,
      pass: big.peakRssMb <= 300,
    });
  }
  const mid = at(5000);
  if (big && mid) {
    for (const scenario of ['warm-304', 'cold'] as const) {
      const a = mid.scenarios[scenario]?.herald.pollMs;
      const b = big.scenarios[scenario]?.herald.pollMs;
      if (a === undefined || b === undefined) continue;
      targets.push({
        name: `${scenario} cycle 5,000 → 20,000 feeds`,
        target: '≤ 4.5 × longer',
        measured: `${(b / a).toFixed(2)} × (${(a / 1000).toFixed(1)} s → ${(b / 1000).toFixed(1)} s)`,
        pass: b / a <= 4.5,
      });
    }
  }
  for (const scenario of ['warm-304', 'warm-unchanged'] as const) {
    const result = main.scenarios[scenario];
    if (!result) continue;
    targets.push({
      name: `store writes per unchanged feed (${scenario})`,
      target: '≤ 1',
      measured: result.herald.writesPerFeed.toFixed(2),
      pass: result.herald.writesPerFeed <= 1,
    });
  }
  return targets;
}

function warningsOf(runs: PollRun[], delivery: DeliveryRun | null): string[] {
  const warnings: string[] = [];
  for (const run of runs) {
    for (const [scenario, result] of Object.entries(run.scenarios)) {
      const failed = result.herald.outcomes['failed'] ?? 0;
      if (failed > 0) warnings.push(`${run.feeds} feeds, ${scenario}: ${failed} Herald checks failed`);
      for (const name of ['limit', 'naive'] as const) {
        const errors = result[name]?.errors ?? 0;
        if (errors > 0) warnings.push(`${run.feeds} feeds, ${scenario}: ${errors} ${name} requests failed`);
      }
      const d = result.delivery;
      if (d && (d.lost > 0 || d.duplicated > 0 || d.unexpected > 0)) {
        warnings.push(
          `${run.feeds} feeds, ${scenario}: ${d.lost} lost, ${d.duplicated} duplicated, ${d.unexpected} unexpected posts`,
        );
      }
    }
  }
  if (delivery && delivery.left > 0) warnings.push(`delivery: ${delivery.left} posts still in the outbox`);
  return warnings;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows
    .map((row) =>
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n');
}

function render(results: BenchResults): string {
  const { main, delivery, scaling, targets, settings } = results;
  const out: string[] = [];
  out.push(
    `Herald bench: ${fmt(main.feeds)} feeds (~${fmt(settings.averageBodyBytes / 1024)} KB, ${ITEMS_PER_FEED} items) on ${main.hosts} loopback hosts, ` +
      `concurrency ${settings.fetchConcurrency} (${settings.hostConcurrency} per host), validators on ${fmt(settings.validatorShare * 100)} % of feeds`,
    `${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}`,
    ...(settings.heraldNodeFlags.length > 0 || Object.keys(settings.heraldEnv).length > 0
      ? [
          `Herald run as ${[...Object.entries(settings.heraldEnv).map(([name, value]) => `${name}=${value}`), 'node', ...settings.heraldNodeFlags].join(' ')}`,
        ]
      : []),
    ...(settings.boundChecks !== null
      ? [`experiment: at most ${settings.boundChecks} checks in flight (not what the product does)`]
      : []),
    '',
  );
  const rows: string[][] = [
    [
      'scenario',
      'HTTP 200/304',
      'herald f/s',
      'limit f/s',
      'naive f/s',
      'herald/limit',
      'naive/herald',
      'CPU s/1k: herald',
      '(main+others)',
      'limit',
      'naive',
      'writes',
      'writes/feed',
      'commits',
      'reads',
      'cycle RSS MB',
    ],
  ];
  for (const scenario of SCENARIOS) {
    const r = main.scenarios[scenario];
    if (!r) continue;
    rows.push([
      scenario,
      `${r.server.ok}/${r.server.notModified}`,
      fmt(r.herald.feedsPerSecond),
      r.limit ? fmt(r.limit.feedsPerSecond) : '–',
      r.naive ? fmt(r.naive.feedsPerSecond) : '–',
      r.heraldOverLimit !== undefined ? r.heraldOverLimit.toFixed(2) : '–',
      r.naiveOverHerald !== undefined ? `${r.naiveOverHerald.toFixed(1)}×` : '–',
      r.herald.cpuSecondsPer1000.toFixed(2),
      r.herald.cpuByThread
        ? `${((r.herald.cpuByThread.main / r.herald.feeds) * 1000).toFixed(2)}+${((r.herald.cpuByThread.others / r.herald.feeds) * 1000).toFixed(2)}`
        : '–',
      r.limit ? r.limit.cpuSecondsPer1000.toFixed(2) : '–',
      r.naive ? r.naive.cpuSecondsPer1000.toFixed(2) : '–',
      fmt(r.herald.storeWrites),
      r.herald.writesPerFeed.toFixed(2),
      fmt(r.herald.storeCommits),
      fmt(r.herald.storeReads),
      fmt(r.herald.cycleRssMb),
    ]);
  }
  out.push(table(rows));
  if (main.parse)
    out.push('', `rss-parser parseString alone: ${main.parse.cpuMsPerFeed.toFixed(2)} ms CPU per feed`);
  if (main.heraldPath)
    out.push(
      `Herald's own path alone (hash, decode, parse, normalize, keys, diff, recent items, encoded records; ` +
        `one feed at a time, no HTTP or database): ${main.heraldPath.cpuMsPerFeed.toFixed(2)} ms CPU per feed`,
    );
  const changed = main.scenarios['changed-1%'];
  if (changed?.delivery) {
    const d = changed.delivery;
    out.push(
      `changed-1%: ${d.delivered}/${d.expected} new items posted (lost ${d.lost}, duplicated ${d.duplicated}, unexpected ${d.unexpected}), ` +
        `poll ${(changed.herald.pollMs / 1000).toFixed(2)} s, with delivery ${(changed.herald.totalMs / 1000).toFixed(2)} s`,
    );
  }
  if (delivery) {
    out.push(
      '',
      `delivery: ${fmt(delivery.items)} items into ${delivery.channels} channels (limits ${MESSAGE_LIMIT.limit}/${MESSAGE_LIMIT.windowMs / 1000} s per channel, ` +
        `${GLOBAL_LIMIT.limit}/s global; outbox released ${delivery.allowancePerSubscription} per subscription, not the 5-per-check anti-flood cap)`,
      `  wall ${(delivery.wallMs / 1000).toFixed(1)} s vs theoretical minimum ${(delivery.theoreticalMinimumMs / 1000).toFixed(1)} s = ${delivery.wallOverMinimum.toFixed(2)} ×; ` +
        `429s ${delivery.rateLimited} (max ${delivery.maxRateLimitedPerChannel} per channel); lost ${delivery.lost}; duplicated ${delivery.duplicated}; left in outbox ${delivery.left}`,
    );
  }
  const runs = [main, ...scaling].sort((a, b) => a.feeds - b.feeds);
  const seen = new Set<number>();
  const scaleRows: string[][] = [
    [
      'feeds',
      'cold s',
      'warm-304 s',
      'warm-unchanged s',
      'cold CPU s',
      'RSS at start MB',
      'peak RSS MB',
      'SQLite MB',
    ],
  ];
  for (const run of runs) {
    if (seen.has(run.feeds)) continue;
    seen.add(run.feeds);
    const s = (scenario: Scenario) => {
      const ms = run.scenarios[scenario]?.herald.pollMs;
      return ms === undefined ? '–' : (ms / 1000).toFixed(1);
    };
    scaleRows.push([
      fmt(run.feeds),
      s('cold'),
      s('warm-304'),
      s('warm-unchanged'),
      run.scenarios.cold ? run.scenarios.cold.herald.cpuSeconds.toFixed(1) : '–',
      fmt(run.startRssMb),
      fmt(run.peakRssMb),
      fmt(run.databaseMb, 1),
    ]);
  }
  out.push('', 'scaling (a fresh Herald process per size):', table(scaleRows), '', 'targets:');
  for (const t of targets)
    out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured} (target ${t.target})`);
  if (results.warnings.length > 0) out.push('', 'warnings:', ...results.warnings.map((w) => `  ${w}`));
  return out.join('\n');
}

interface BenchResults {
  version: 1;
  date: string;
  durationSeconds: number;
  machine: { cpus: number; cpuModel: string; memoryMb: number; node: string; platform: string };
  settings: {
    feeds: number;
    itemsPerFeed: number;
    averageBodyBytes: number;
    feedsPerHost: number;
    validatorShare: number;
    fetchConcurrency: number;
    hostConcurrency: number;
    changedShare: number;
    heraldNodeFlags: string[];
    heraldEnv: Record<string, string>;
    boundChecks: number | null;
  };
  main: PollRun;
  delivery: DeliveryRun | null;
  scaling: PollRun[];
  targets: Target[];
  /** Anything that makes a figure suspect: failed checks, baseline errors, items lost. */
  warnings: string[];
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const began = performance.now();
  const progress = (message: string) =>
    process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  const epoch = Date.now() - 180 * 86_400_000;
  const feedServer = await spawnBenchProcess('feed-server', './feed-server.ts');
  const discord = await spawnBenchProcess('discord', './discord-server.ts');
  try {
    await feedServer.call('configure', {
      epoch,
      validatorShare: options.validatorShare,
    } satisfies FeedServerSettings);
    const { port } = await feedServer.call<{ port: number }>('prepare', { indices: [0] });
    const world: World = { options, feedServer, discord, port, progress };

    const mainRun = await pollRun(world, options.feeds, true, options.scenarios);
    const delivery = options.delivery ? await deliveryRun(world) : null;
    const scaling: PollRun[] = [];
    for (const feeds of options.scaling) {
      if (feeds === options.feeds) continue;
      scaling.push(await pollRun(world, feeds, false, ['cold', 'warm-304', 'warm-unchanged']));
    }
    const cold = mainRun.scenarios.cold;
    const results: BenchResults = {
      version: 1,
      date: new Date().toISOString(),
      durationSeconds: (performance.now() - began) / 1000,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
        memoryMb: Math.round(totalmem() / 1024 / 1024),
        node: process.versions.node,
        platform: `${process.platform} ${process.arch}`,
      },
      settings: {
        feeds: options.feeds,
        itemsPerFeed: ITEMS_PER_FEED,
        averageBodyBytes: cold ? cold.server.bytes / Math.max(1, cold.server.ok) : 0,
        feedsPerHost: FEEDS_PER_HOST,
        validatorShare: options.validatorShare,
        fetchConcurrency: options.fetchConcurrency,
        hostConcurrency: options.hostConcurrency,
        changedShare: CHANGED_SHARE,
        heraldNodeFlags: options.heraldNodeFlags,
        heraldEnv: options.heraldEnv,
        boundChecks: options.boundChecks,
      },
      main: mainRun,
      delivery,
      scaling,
      targets: targetsOf(mainRun, delivery, scaling),
      warnings: warningsOf([mainRun, ...scaling], delivery),
    };
    writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : `${render(results)}\n`);
  } finally {
    await discord.close();
    await feedServer.close();
  }
}

try {
  await main();
} catch (error) {
  if (error instanceof BenchUsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
