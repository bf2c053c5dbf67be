import { FakeDiscordClosedError, FakeDiscordWaitTimeoutError } from './errors';

interface Waiter {
  check: () => boolean;
  settle: (error?: Error) => void;
}

/** How long to wait and what to call it in the timeout error. */
export interface WaitOptions {
  timeoutMs?: number;
  /** Describes what was awaited, for the timeout message. */
  what?: string;
}

/** Default time a test waits for something the bot should do. */
export const DEFAULT_WAIT_MS = 5000;

/**
 * Lets tests wait for a condition on the fake's state: every change calls `notify()`, which
 * re-checks the pending conditions, so waiting needs no polling and no sleeps.
 */
export class ChangeNotifier {
  readonly #waiters = new Set<Waiter>();
  #closed = false;

  /** Resolves with the first non-undefined result of `probe`, checked now and after every change. */
  waitFor<T>(
    probe: () => T | undefined,
    options: WaitOptions & { onTimeout?: () => Error } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<T>((resolve, reject) => {
      if (this.#closed) {
        reject(new FakeDiscordClosedError());
        return;
      }
      const timer = setTimeout(() => {
        waiter.settle(
          options.onTimeout?.() ?? new FakeDiscordWaitTimeoutError(options.what ?? 'a condition', timeoutMs),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          let value: T | undefined;
          try {
            value = probe();
          } catch (error) {
            waiter.settle(error instanceof Error ? error : new Error(String(error)));
            return true;
          }
          if (value === undefined) return false;
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          resolve(value);
          return true;
        },
        settle: (error) => {
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          reject(error ?? new FakeDiscordClosedError());
        },
      };
      if (waiter.check()) return;
      this.#waiters.add(waiter);
    });
  }

  /** Re-checks every pending condition after a change. */
  notify(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  /** Rejects every pending wait; later waits reject at once. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.settle(new FakeDiscordClosedError());
  }
}
