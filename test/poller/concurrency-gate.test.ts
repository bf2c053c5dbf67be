import { describe, expect, it } from 'vitest';
import {
  ConcurrencyGateConfigError,
  createConcurrencyGate,
  type ConcurrencyGate,
} from '../../src/poller/concurrency-gate';

/** Lets every pending promise callback and timer-free continuation run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A clock that only moves when the test says so, with a sleep that wakes when it passes. */
function fakeClock(start = 1_000_000) {
  let time = start;
  let sleepers: { at: number; wake: () => void }[] = [];
  return {
    now: () => time,
    sleep: (ms: number) =>
      new Promise<void>((wake) => {
        sleepers.push({ at: time + ms, wake });
      }),
    async advance(ms: number): Promise<void> {
      time += ms;
      const due = sleepers.filter((s) => s.at <= time);
      sleepers = sleepers.filter((s) => s.at > time);
      for (const s of due) s.wake();
      await settle();
    },
  };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Runs `count` tasks spread over `hosts`, each lasting a random number of event-loop turns, and records the peaks. */
async function runRandomLoad(
  gate: ConcurrencyGate,
  limits: { global: number; perHost: number },
  count: number,
  hosts: number,
  random: () => number,
) {
  let total = 0;
  let maxTotal = 0;
  const perHost = new Map<string, number>();
  const maxPerHost = new Map<string, number>();
  let completed = 0;
  const runs: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    // Skewed on purpose: a third of all tasks go to host-0, like a big blogging platform.
    const host = random() < 0.33 ? 'host-0' : `host-${Math.floor(random() * hosts)}`;
    const turns = Math.floor(random() * 4);
    runs.push(
      gate.run(host, async () => {
        total++;
        const mine = (perHost.get(host) ?? 0) + 1;
        perHost.set(host, mine);
        maxTotal = Math.max(maxTotal, total);
        maxPerHost.set(host, Math.max(maxPerHost.get(host) ?? 0, mine));
        // The gate's own counters include tasks whose promise has not settled yet, so they can only be higher.
        expect(gate.inFlight()).toBeGreaterThanOrEqual(total);
        expect(gate.inFlight()).toBeLessThanOrEqual(limits.global);
        expect(gate.inFlightFor(host)).toBeLessThanOrEqual(limits.perHost);
        for (let t = 0; t < turns; t++) await settle();
        total--;
        perHost.set(host, (perHost.get(host) ?? 1) - 1);
        completed++;
      }),
    );
  }
  await Promise.all(runs);
  return { maxTotal, maxPerHost, completed };
}

describe('createConcurrencyGate', () => {
  it('never exceeds the global and per-host limits under random task durations', async () => {
    const limits = { global: 8, perHost: 3 };
    const gate = createConcurrencyGate(limits);
    const { maxTotal, maxPerHost, completed } = await runRandomLoad(gate, limits, 2000, 12, seeded(42));
    expect(completed).toBe(2000);
    expect(maxTotal).toBe(8);
    expect(Math.max(...maxPerHost.values())).toBe(3);
    expect(gate.inFlight()).toBe(0);
    expect(gate.waiting()).toBe(0);
  });

  it('gets through 20,000 queued tasks over 400 hosts within the limits', async () => {
    const limits = { global: 32, perHost: 4 };
    const gate = createConcurrencyGate(limits);
    const { maxTotal, maxPerHost, completed } = await runRandomLoad(gate, limits, 20_000, 400, seeded(7));
    expect(completed).toBe(20_000);
    expect(maxTotal).toBe(32);
    expect(Math.max(...maxPerHost.values())).toBe(4);
  });

  it('starts a task for another host at once even when thousands of tasks for a saturated host wait ahead of it', async () => {
    const gate = createConcurrencyGate({ global: 8, perHost: 2 });
    const slow = deferred();
    const aRuns: Promise<void>[] = [];
    for (let i = 0; i < 5000; i++) aRuns.push(gate.run('a.example', () => slow.promise));
    let bStarted = false;
    const bRun = gate.run('b.example', () => {
      bStarted = true;
      return Promise.resolve('b done');
    });
    expect(bStarted).toBe(true);
    await expect(bRun).resolves.toBe('b done');
    expect(gate.inFlightFor('a.example')).toBe(2);
    expect(gate.waiting()).toBe(4998);
    slow.resolve();
    await Promise.all(aRuns);
    expect(gate.inFlight()).toBe(0);
  });

  it('frees the slots of a task that fails, and hands the failure to the caller', async () => {
    const gate = createConcurrencyGate({ global: 1, perHost: 1 });
    const boom = new Error('connection reset');
    const failing = gate.run('a.example', () => Promise.reject(boom));
    const throwing = gate.run('a.example', () => {
      throw new TypeError('synchronous bug');
    });
    let afterStarted = false;
    const after = gate.run('a.example', () => {
      afterStarted = true;
      return Promise.resolve('still running');
    });
    const failures = Promise.all([
      expect(failing).rejects.toBe(boom),
      expect(throwing).rejects.toThrow('synchronous bug'),
    ]);
    await settle();
    expect(afterStarted).toBe(true);
    await failures;
    await expect(after).resolves.toBe('still running');
    expect(gate.inFlight()).toBe(0);
    expect(gate.inFlightFor('a.example')).toBe(0);
  });

  it('runs enqueued tasks within the same limits and in order, holding a slot until the task’s promise settles, failed or not', async () => {
    const gate = createConcurrencyGate({ global: 2, perHost: 1 });
    const started: string[] = [];
    const tasks = new Map<string, Deferred>();
    for (const name of ['a1', 'a2', 'b1', 'a3']) {
      const task = deferred();
      tasks.set(name, task);
      gate.enqueue(`${name[0]}.example`, () => {
        started.push(name);
        return task.promise;
      });
    }
    await settle();
    expect(started).toEqual(['a1', 'b1']);
    expect(gate.waiting()).toBe(2);

    tasks.get('a1')!.reject(new Error('the task’s own failure'));
    await settle();
    expect(started).toEqual(['a1', 'b1', 'a2']);
    tasks.get('b1')!.resolve();
    tasks.get('a2')!.resolve();
    await settle();
    expect(started).toEqual(['a1', 'b1', 'a2', 'a3']);
    tasks.get('a3')!.resolve();
    await settle();
    expect(gate.inFlight()).toBe(0);
  });

  it('starts tasks for one host in the order they were queued', async () => {
    const gate = createConcurrencyGate({ global: 10, perHost: 1 });
    const order: number[] = [];
    const runs = [0, 1, 2, 3, 4, 5].map((n) =>
      gate.run('a.example', async () => {
        order.push(n);
        await settle();
      }),
    );
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('serves waiting tasks of different hosts oldest first when they are all allowed to start', async () => {
    const gate = createConcurrencyGate({ global: 1, perHost: 1 });
    const order: string[] = [];
    const labels = ['a1', 'b1', 'a2', 'c1', 'b2', 'c2'];
    const runs = labels.map((label) =>
      gate.run(`${label[0]}.example`, async () => {
        order.push(label);
        await settle();
      }),
    );
    await Promise.all(runs);
    expect(order).toEqual(labels);
  });

  it('holds back a backed-off host until its deadline while other hosts carry on', async () => {
    const clock = fakeClock();
    const gate = createConcurrencyGate({ global: 4, perHost: 2, now: clock.now, sleep: clock.sleep });
    const until = clock.now() + 30_000;
    gate.backOffHost('slow.example', until);
    expect(gate.hostBlockedUntil('slow.example')).toBe(until);
    expect(gate.hostBlockedUntil('fast.example')).toBeNull();

    const started: string[] = [];
    const slowRun = gate.run('slow.example', () => {
      started.push('slow');
      return Promise.resolve();
    });
    const fastRun = gate.run('fast.example', () => {
      started.push('fast');
      return Promise.resolve();
    });
    await fastRun;
    expect(started).toEqual(['fast']);

    await clock.advance(29_999);
    expect(started).toEqual(['fast']);
    await clock.advance(1);
    await slowRun;
    expect(started).toEqual(['fast', 'slow']);
    expect(gate.hostBlockedUntil('slow.example')).toBeNull();
  });

  it('lets other hosts through when a host is backed off while its tasks were already next in line', async () => {
    const clock = fakeClock();
    const gate = createConcurrencyGate({ global: 1, perHost: 1, now: clock.now, sleep: clock.sleep });
    const busy = deferred();
    const started: string[] = [];
    const busyRun = gate.run('busy.example', () => busy.promise);
    const track = (label: string) => () => {
      started.push(label);
      return Promise.resolve();
    };
    const throttledRun = gate.run('throttled.example', track('throttled'));
    const otherRun = gate.run('other.example', track('other'));
    gate.backOffHost('throttled.example', clock.now() + 60_000);
    busy.resolve();
    await busyRun;
    await settle();
    expect(started).toEqual(['other']);
    await otherRun;
    await clock.advance(60_000);
    await throttledRun;
    expect(started).toEqual(['other', 'throttled']);
  });

  it('keeps the later deadline when a host is backed off twice', async () => {
    const clock = fakeClock();
    const gate = createConcurrencyGate({ global: 4, perHost: 2, now: clock.now, sleep: clock.sleep });
    gate.backOffHost('h.example', clock.now() + 60_000);
    gate.backOffHost('h.example', clock.now() + 10_000);
    expect(gate.hostBlockedUntil('h.example')).toBe(clock.now() + 60_000);
    let ran = false;
    const run = gate.run('h.example', () => {
      ran = true;
      return Promise.resolve();
    });
    await clock.advance(10_000);
    expect(ran).toBe(false);
    await clock.advance(50_000);
    await run;
    expect(ran).toBe(true);
  });

  it('lets running tasks of a host finish when it is backed off, but starts no new ones', async () => {
    const clock = fakeClock();
    const gate = createConcurrencyGate({ global: 4, perHost: 1, now: clock.now, sleep: clock.sleep });
    const first = deferred();
    let secondStarted = false;
    const firstRun = gate.run('h.example', () => first.promise);
    const secondRun = gate.run('h.example', () => {
      secondStarted = true;
      return Promise.resolve();
    });
    gate.backOffHost('h.example', clock.now() + 5000);
    first.resolve();
    await firstRun;
    await settle();
    expect(secondStarted).toBe(false);
    await clock.advance(5000);
    await secondRun;
    expect(secondStarted).toBe(true);
  });

  it('spaces starts to one host by the minimum gap without delaying other hosts', async () => {
    const clock = fakeClock();
    const gate = createConcurrencyGate({
      global: 10,
      perHost: 4,
      minStartGapMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
    });
    const t0 = clock.now();
    const startedAt: Record<string, number> = {};
    const runs = ['a1', 'a2', 'a3', 'b1'].map((label) =>
      gate.run(`${label[0]}.example`, () => {
        startedAt[label] = clock.now() - t0;
        return Promise.resolve();
      }),
    );
    await settle();
    expect(startedAt).toEqual({ a1: 0, b1: 0 });
    await clock.advance(999);
    expect(startedAt).toEqual({ a1: 0, b1: 0 });
    await clock.advance(1);
    await clock.advance(1000);
    await Promise.all(runs);
    expect(startedAt).toEqual({ a1: 0, b1: 0, a2: 1000, a3: 2000 });
  });

  it('refuses limits below one', () => {
    expect(() => createConcurrencyGate({ global: 0, perHost: 1 })).toThrow(ConcurrencyGateConfigError);
    expect(() => createConcurrencyGate({ global: 4, perHost: 0 })).toThrow(ConcurrencyGateConfigError);
    expect(() => createConcurrencyGate({ global: 4, perHost: 1, minStartGapMs: -1 })).toThrow(
      ConcurrencyGateConfigError,
    );
  });
});
