import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createKeyedMutex } from '../../src/store/keyed-mutex';

describe('createKeyedMutex', () => {
  it('ends many concurrent read-modify-write increments on one key at the exact count', async () => {
    const mutex = createKeyedMutex();
    let counter = 0;
    const increment = () =>
      mutex.run('counter', async () => {
        const read = counter;
        // Yield between the read and the write, where an unserialized update would lose increments.
        await nextTurn();
        counter = read + 1;
      });

    await Promise.all(Array.from({ length: 200 }, increment));

    expect(counter).toBe(200);
  });

  it('releases the key when a section throws, so the next section runs', async () => {
    const mutex = createKeyedMutex();
    const failing = mutex.run('k', () => {
      throw new Error('boom');
    });
    const next = mutex.run('k', () => 'ran');

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
    expect(mutex.size).toBe(0);
  });

  it('runs sections on one key in the order they asked', async () => {
    const mutex = createKeyedMutex();
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((n) =>
        mutex.run('k', async () => {
          // Later callers finish their work sooner; the lock must still keep them in line.
          for (let turn = 0; turn < 5 - n; turn++) await nextTurn();
          order.push(n);
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('lets a section on another key run while one key is held', async () => {
    const mutex = createKeyedMutex();
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let aFinished = false;
    const a = mutex.run('a', async () => {
      await gate;
      aFinished = true;
    });

    // If keys shared one lock, this would wait for `a`, which waits for the gate opened here.
    await mutex.run('b', () => openGate());
    await a;

    expect(aFinished).toBe(true);
  });

  it('resolves idle only after every held key is released', async () => {
    const mutex = createKeyedMutex();
    const events: string[] = [];
    const work = mutex.run('k', async () => {
      await nextTurn();
      await nextTurn();
      events.push('work done');
    });

    await mutex.idle();
    events.push('idle');
    await work;

    expect(events).toEqual(['work done', 'idle']);
    expect(mutex.size).toBe(0);
  });
});
