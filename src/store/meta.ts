import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';

/** Small named values kept under `meta:<name>` (schema version, slash-command registration hash). */
export interface MetaRepository {
  get<T>(name: string): Promise<T | undefined>;
  set(name: string, value: unknown): Promise<void>;
  delete(name: string): Promise<void>;
}

/** Builds the meta repository over a key-value store. */
export function createMetaRepository(kv: KeyValueStore): MetaRepository {
  return {
    get: <T>(name: string) => kv.get<T>(storeKeys.meta(name)),
    set: (name, value) => kv.withLock(storeKeys.meta(name), () => kv.set(storeKeys.meta(name), value)),
    delete: (name) => kv.withLock(storeKeys.meta(name), () => kv.delete(storeKeys.meta(name))),
  };
}
