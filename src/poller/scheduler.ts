import type { FeedStateRepository } from '../store';
import type { CheckResult, CheckSettled, FeedChecker } from './feed-checker';
import { firstCheckAt } from './interval';

/** Longest single timer; Node clamps anything above 2³¹−1 ms to 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Decides when each feed is checked; the schedule is a cache of `nextCheckAt` in the store. */
export interface Scheduler {
  /** Loads every feed's next check from the store and starts the clock. */
  start(): Promise<void>;
  /** (Re)schedules a feed at `at` (ms since the epoch). */
  schedule(url: string, at: number): void;
  /** Forgets a feed (its last subscription was removed). */
  unschedule(url: string): void;
  /** Feeds scheduled, for status and tests. */
  size(): number;
  /** Resolves when no check is running. */
  idle(): Promise<void>;
  /** Stops starting checks and waits for running ones, at most `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

/** What the scheduler needs. */
export interface SchedulerDeps {
  feeds: Pick<FeedStateRepository, 'listAll'>;
  checker: FeedChecker;
  /** Used to spread the first checks after start-up over the first interval. */
  baseSeconds: number;
  onError(url: string, error: unknown): void;
  now?: () => number;
  random?: () => number;
}

interface Entry {
  at: number;
  url: string;
}

/**
 * A min-heap of due times with lazy deletion, one timer for the earliest, and a set of feeds
 * being checked so a slow feed is never checked twice at once. Concurrency limits live in the
 * checker's gate, so handing it every due feed at once is fine.
 */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const dueAt = new Map<string, number>();
  const heap: Entry[] = [];
  const running = new Set<string>();
  /** Callers of `idle` and `stop` waiting for `running` to empty. */
  let whenIdle: Array<() => void> = [];
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Infinity;
  let stopped = false;
  let started = false;

  function schedule(url: string, at: number): void {
    if (stopped) return;
    dueAt.set(url, at);
    push(heap, { at, url });
    if (started) arm();
  }

  function unschedule(url: string): void {
    dueAt.delete(url);
  }

  function arm(): void {
    const head = peekValid();
    if (!head) {
      clearTimer();
      return;
    }
    if (timer && timerAt <= head.at) return;
    clearTimer();
    timerAt = head.at;
    timer = setTimeout(tick, Math.min(Math.max(0, head.at - now()), MAX_TIMER_MS));
  }

  function clearTimer(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    timerAt = Infinity;
  }

  function peekValid(): Entry | undefined {
    while (heap.length > 0) {
      const head = heap[0]!;
      if (dueAt.get(head.url) === head.at) return head;
      pop(heap);
    }
    return undefined;
  }

  function tick(): void {
    timer = null;
    timerAt = Infinity;
    if (stopped) return;
    const current = now();
    for (let head = peekValid(); head && head.at <= current; head = peekValid()) {
      pop(heap);
      dueAt.delete(head.url);
      if (!running.has(head.url)) run(head.url);
    }
    arm();
  }

  function run(url: string): void {
    running.add(url);
    deps.checker.queue(url, finished);
  }

  function finished(url: string, settled: CheckSettled): void {
    try {
      if (settled.status === 'fulfilled') afterCheck(url, settled.value);
      else failed(url, settled.reason);
    } catch (error) {
      failed(url, error);
    } finally {
      running.delete(url);
      if (running.size === 0) {
        const waiting = whenIdle;
        whenIdle = [];
        for (const resolve of waiting) resolve();
      }
    }
  }

  function failed(url: string, error: unknown): void {
    deps.onError(url, error);
    // A bug in one check must not drop the feed from the schedule.
    if (!dueAt.has(url)) schedule(url, now() + deps.baseSeconds * 1000);
  }

  async function idle(): Promise<void> {
    while (running.size > 0) await new Promise<void>((resolve) => whenIdle.push(resolve));
  }

  function afterCheck(url: string, result: CheckResult): void {
    if (result.outcome === 'removed') return;
    if (result.url !== url) dueAt.delete(url);
    // A subscription added while the check ran may have scheduled an earlier check: keep it.
    const existing = dueAt.get(result.url);
    if (existing === undefined || existing > result.nextCheckAt) schedule(result.url, result.nextCheckAt);
  }

  return {
    async start() {
      const current = now();
      for (const state of await deps.feeds.listAll()) {
        // Overdue feeds (after downtime, or never checked) are spread over the first interval
        // rather than all fetched in the first second.
        const at =
          state.nextCheckAt > current
            ? state.nextCheckAt
            : firstCheckAt({
                now: current,
                intervalSeconds: Math.min(state.intervalSeconds, deps.baseSeconds),
                random,
              });
        if (!dueAt.has(state.url)) schedule(state.url, at);
      }
      started = true;
      arm();
    },
    schedule,
    unschedule,
    size: () => dueAt.size + [...running].filter((url) => !dueAt.has(url)).length,
    idle,
    async stop(timeoutMs) {
      stopped = true;
      clearTimer();
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        idle(),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
    },
  };
}

function push(heap: Entry[], entry: Entry): void {
  heap.push(entry);
  let index = heap.length - 1;
  while (index > 0) {
    const parent = (index - 1) >> 1;
    if (heap[parent]!.at <= entry.at) break;
    heap[index] = heap[parent]!;
    index = parent;
  }
  heap[index] = entry;
}

function pop(heap: Entry[]): Entry | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length === 0 || !last) return top;
  let index = 0;
  for (;;) {
    const left = 2 * index + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
    if (heap[child]!.at >= last.at) break;
    heap[index] = heap[child]!;
    index = child;
  }
  heap[index] = last;
  return top;
}
