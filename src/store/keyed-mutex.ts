/** Runs critical sections one at a time per key; different keys proceed concurrently. */
export interface KeyedMutex {
  /**
   * Runs `fn` once every earlier `run` on the same key has settled, and holds the key until `fn`
   * settles (even when it throws). Not reentrant: calling `run` on a key you already hold deadlocks.
   */
  run<T>(key: string, fn: () => Promise<T> | T): Promise<T>;
  /** Whether `key` is held or waited for now. */
  holds(key: string): boolean;
  /** Resolves once no key is held or waited for. */
  idle(): Promise<void>;
  /** How many keys are currently held or waited for. */
  readonly size: number;
}

/** Creates an in-process keyed mutex (a FIFO queue per key, forgotten once the queue drains). */
export function createKeyedMutex(): KeyedMutex {
  // The last promise in each key's queue; it only ever resolves, so waiting on it never throws.
  const tails = new Map<string, Promise<void>>();

  return {
    async run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const done = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = previous.then(() => done);
      tails.set(key, tail);
      try {
        await previous;
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
    holds(key) {
      return tails.has(key);
    },
    async idle(): Promise<void> {
      while (tails.size > 0) await Promise.all(tails.values());
    },
    get size() {
      return tails.size;
    },
  };
}
