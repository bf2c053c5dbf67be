import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyvStore, type KeyvStoreOptions } from '../../src/store/keyv-store';
import type { Store } from '../../src/store/store';

/** A temp folder for SQLite files, and every store opened in it, closed and deleted by `cleanup`. */
export interface TempStores {
  dir: string;
  /** DATABASE_URL of `name` inside the temp folder. */
  urlOf(name?: string): string;
  /** Opens (or reopens) a SQLite store in the temp folder. */
  open(name?: string, options?: KeyvStoreOptions): Promise<Store>;
  cleanup(): Promise<void>;
}

/** Creates a fresh temp folder; call `cleanup` in afterEach. */
export function createTempStores(): TempStores {
  const dir = mkdtempSync(join(tmpdir(), 'herald-store-'));
  const opened: Store[] = [];
  const urlOf = (name = 'herald.sqlite') => `sqlite://${join(dir, name)}`;
  return {
    dir,
    urlOf,
    async open(name, options) {
      const store = await createKeyvStore(urlOf(name), options);
      opened.push(store);
      return store;
    },
    async cleanup() {
      await Promise.all(opened.map((store) => store.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
