/**
 * Limits how many feed requests run at once, in total and per host.
 *
 * Waiting tasks sit in one FIFO queue per host. Hosts that could start a task right now sit in a
 * min-heap ordered by the arrival number of their oldest waiting task, so each start takes the
 * oldest task that is allowed to run: FIFO overall, but a saturated or backed-off host is simply
 * absent from the heap and cannot hold back anyone behind it. A start costs O(log hosts), whatever
 * the number of queued tasks.
 */

/** How to build a gate. */
export interface ConcurrencyGateOptions {
  /** Tasks in flight in total (FETCH_CONCURRENCY). */
  global: number;
  /** Tasks in flight per host (HOST_CONCURRENCY). */
  perHost: number;
  /** Minimum time between two starts for the same host; 0 (the default) for none. */
  minStartGapMs?: number;
  /** Clock in ms; defaults to Date.now. */
  now?: () => number;
  /** Waits `ms`; defaults to an unref'd setTimeout, so a host backed off for hours does not keep a stopping process alive. */
  sleep?: (ms: number) => Promise<void>;
}

/** Runs tasks under global and per-host concurrency limits. */
export interface ConcurrencyGate {
  /** Runs `task` once a global slot and a slot for `host` are free; settles as the task does. */
  run<T>(host: string, task: () => Promise<T>): Promise<T>;
  /**
   * Starts `task` once slots are free and holds them until the promise it returns settles. Unlike
   * `run`, nothing but `task` itself is kept while it waits, for callers that queue thousands at
   * once; what the task resolves or rejects to is the task's own business.
   */
  enqueue(host: string, task: () => Promise<unknown>): void;
  /** Tasks running now, over all hosts. */
  inFlight(): number;
  /** Tasks running now for `host`. */
  inFlightFor(host: string): number;
  /** Tasks waiting to start, over all hosts. */
  waiting(): number;
  /** Holds back new starts for `host` until `untilMs` (running tasks go on); a later deadline wins over an earlier one. */
  backOffHost(host: string, untilMs: number): void;
  /** The time `host` is backed off until, or null when it is not backed off now. */
  hostBlockedUntil(host: string): number | null;
}

/** A gate was asked for impossible limits. */
export class ConcurrencyGateConfigError extends RangeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConcurrencyGateConfigError';
  }
}

/** Creates a gate that starts tasks oldest first without letting one busy host block the others. */
export function createConcurrencyGate(options: ConcurrencyGateOptions): ConcurrencyGate {
  return new Gate(options);
}

interface Waiter {
  /** Arrival number: smaller waited longer. */
  seq: number;
  task: () => unknown;
  /** How `run` hands the outcome back; null for `enqueue`. */
  resolve: ((value: unknown) => void) | null;
  reject: ((error: unknown) => void) | null;
}

class Lane {
  readonly queue = new Fifo<Waiter>();
  inFlight = 0;
  blockedUntil = 0;
  lastStartAt = Number.NEGATIVE_INFINITY;
  /** The time a wake-up is pending for, or null. */
  wakeAt: number | null = null;
  inHeap = false;
  constructor(readonly host: string) {}
}

class Gate implements ConcurrencyGate {
  private readonly global: number;
  private readonly perHost: number;
  private readonly gap: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new LaneHeap();
  private active = 0;
  private queued = 0;
  private nextSeq = 0;
  private pumping = false;

  constructor(options: ConcurrencyGateOptions) {
    if (!Number.isInteger(options.global) || options.global < 1) {
      throw new ConcurrencyGateConfigError(
        `global concurrency must be a whole number ≥ 1 (got ${options.global})`,
      );
    }
    if (!Number.isInteger(options.perHost) || options.perHost < 1) {
      throw new ConcurrencyGateConfigError(
        `per-host concurrency must be a whole number ≥ 1 (got ${options.perHost})`,
      );
    }
    const gap = options.minStartGapMs ?? 0;
    if (!Number.isFinite(gap) || gap < 0) {
      throw new ConcurrencyGateConfigError(`minimum start gap must be ≥ 0 ms (got ${gap})`);
    }
    this.global = options.global;
    this.perHost = options.perHost;
    this.gap = gap;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? unrefSleep;
  }

  run<T>(host: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.push(host, task, resolve as (value: unknown) => void, reject);
    });
  }

  enqueue(host: string, task: () => Promise<unknown>): void {
    this.push(host, task, null, null);
  }

  private push(
    host: string,
    task: () => unknown,
    resolve: Waiter['resolve'],
    reject: Waiter['reject'],
  ): void {
    const lane = this.lane(host);
    lane.queue.push({ seq: this.nextSeq++, task, resolve, reject });
    this.queued++;
    this.consider(lane);
    this.pump();
  }

  private start(lane: Lane, waiter: Waiter): void {
    // A task that throws synchronously fails like any other. No `new Promise` around the task:
    // that wrapper and the extra turns of resolving it with the task's promise cost every check
    // about a fifth of what the gate allocated for it.
    let running: Promise<unknown>;
    try {
      const outcome = waiter.task();
      running = outcome instanceof Promise ? outcome : Promise.resolve(outcome);
    } catch (error) {
      // Passed on as thrown, Error or not, like a rejection of the task's promise would be.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      running = Promise.reject(error);
    }
    // Release before settling, so a caller awaiting run() already sees its slot free.
    running.then(
      (value) => {
        this.release(lane);
        waiter.resolve?.(value);
      },
      (error: unknown) => {
        this.release(lane);
        // The caller gets exactly what the task threw, Error or not.
        waiter.reject?.(error);
      },
    );
  }

  inFlight(): number {
    return this.active;
  }

  inFlightFor(host: string): number {
    return this.lanes.get(host)?.inFlight ?? 0;
  }

  waiting(): number {
    return this.queued;
  }

  backOffHost(host: string, untilMs: number): void {
    if (!Number.isFinite(untilMs)) return;
    const lane = this.lane(host);
    if (untilMs <= lane.blockedUntil) return;
    lane.blockedUntil = untilMs;
    // A lane already in the heap is re-checked when popped; one waiting for a slot is re-checked on release.
    this.consider(lane);
    this.forgetIfIdle(lane);
  }

  hostBlockedUntil(host: string): number | null {
    const lane = this.lanes.get(host);
    if (!lane || lane.blockedUntil <= this.now()) return null;
    return lane.blockedUntil;
  }

  private lane(host: string): Lane {
    let lane = this.lanes.get(host);
    if (!lane) {
      lane = new Lane(host);
      this.lanes.set(host, lane);
    }
    return lane;
  }

  /** The earliest time `lane` may start its next task. */
  private readyAt(lane: Lane): number {
    return this.gap > 0 ? Math.max(lane.blockedUntil, lane.lastStartAt + this.gap) : lane.blockedUntil;
  }

  /** Puts `lane` in the ready heap if it can start a task now, or arranges to look again when it can. */
  private consider(lane: Lane): void {
    if (lane.inHeap || lane.queue.size === 0 || lane.inFlight >= this.perHost) return;
    const readyAt = this.readyAt(lane);
    if (readyAt > this.now()) {
      this.wakeAt(lane, readyAt);
      return;
    }
    lane.inHeap = true;
    this.ready.push(lane);
  }

  private wakeAt(lane: Lane, at: number): void {
    // One pending wake-up per lane is enough: an earlier one re-arms for the later time when it fires.
    if (lane.wakeAt !== null && lane.wakeAt <= at) return;
    lane.wakeAt = at;
    const wake = () => {
      if (lane.wakeAt === at) lane.wakeAt = null;
      this.consider(lane);
      this.pump();
      this.forgetIfIdle(lane);
    };
    void this.sleep(Math.max(0, at - this.now())).then(wake, wake);
  }

  private pump(): void {
    // A task that synchronously queues another lands here; the outer loop picks it up.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.active < this.global) {
        const lane = this.ready.pop();
        if (!lane) break;
        lane.inHeap = false;
        // The lane may have been backed off since it entered the heap.
        if (lane.queue.size === 0 || lane.inFlight >= this.perHost) continue;
        const now = this.now();
        const readyAt = this.readyAt(lane);
        if (readyAt > now) {
          this.wakeAt(lane, readyAt);
          continue;
        }
        const waiter = lane.queue.shift();
        if (!waiter) continue;
        this.queued--;
        this.active++;
        lane.inFlight++;
        lane.lastStartAt = now;
        this.consider(lane);
        this.start(lane, waiter);
      }
    } finally {
      this.pumping = false;
    }
  }

  private release(lane: Lane): void {
    this.active--;
    lane.inFlight--;
    this.consider(lane);
    this.pump();
    this.forgetIfIdle(lane);
  }

  /** Drops a lane that holds nothing worth remembering, so hosts seen once do not accumulate. */
  private forgetIfIdle(lane: Lane): void {
    if (lane.queue.size > 0 || lane.inFlight > 0 || lane.inHeap || lane.wakeAt !== null) return;
    if (this.readyAt(lane) > this.now()) return;
    if (this.lanes.get(lane.host) === lane) this.lanes.delete(lane.host);
  }
}

function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}

/** A FIFO queue with O(1) push and shift (Array#shift is O(n)). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** Binary min-heap of lanes keyed by the arrival number of each lane's oldest waiting task. */
class LaneHeap {
  private readonly lanes: Lane[] = [];

  push(lane: Lane): void {
    const lanes = this.lanes;
    lanes.push(lane);
    let i = lanes.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (key(lanes[parent]!) <= key(lane)) break;
      lanes[i] = lanes[parent]!;
      i = parent;
    }
    lanes[i] = lane;
  }

  pop(): Lane | undefined {
    const lanes = this.lanes;
    const top = lanes[0];
    const last = lanes.pop();
    if (top === undefined || last === undefined || lanes.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= lanes.length) break;
      const right = left + 1;
      const child = right < lanes.length && key(lanes[right]!) < key(lanes[left]!) ? right : left;
      if (key(lanes[child]!) >= key(last)) break;
      lanes[i] = lanes[child]!;
      i = child;
    }
    lanes[i] = last;
    return top;
  }
}

/** A lane's heap key; its head does not change while it is in the heap (only pump() shifts, after popping it). */
function key(lane: Lane): number {
  return lane.queue.peek()?.seq ?? Number.POSITIVE_INFINITY;
}
