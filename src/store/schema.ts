import { SchemaMigrationError, SchemaVersionTooNewError } from './errors';
import type { KeyValueStore } from './key-value';
import { storeKeys } from './keys';

/** The schema version this code reads and writes. Bump it together with a new migration. */
export const SCHEMA_VERSION = 1;

/** Upgrades data written by schema version `n - 1` to version `n` (keyed by `n`). */
export type Migration = (kv: KeyValueStore) => Promise<void>;

/** Every upgrade step, keyed by the version it produces. None yet: version 1 is the first. */
export const MIGRATIONS: Readonly<Record<number, Migration>> = {};

/** Where schema progress is reported; pino loggers fit. */
export interface SchemaLogger {
  info(fields: Record<string, unknown>, message: string): void;
}

const VERSION_KEY = storeKeys.meta('schemaVersion');

/**
 * Brings the store to `targetVersion`: stamps a fresh store, runs each missing migration in order
 * (recording the version after each step so a crash resumes where it stopped), and refuses a
 * store written by a newer Herald.
 */
export async function ensureSchema(
  kv: KeyValueStore,
  options: {
    targetVersion?: number;
    migrations?: Readonly<Record<number, Migration>>;
    logger?: SchemaLogger;
  } = {},
): Promise<number> {
  const target = options.targetVersion ?? SCHEMA_VERSION;
  const migrations = options.migrations ?? MIGRATIONS;
  return kv.withLock(VERSION_KEY, async () => {
    const stored = await kv.get<number>(VERSION_KEY);
    if (stored === undefined) {
      await kv.set(VERSION_KEY, target);
      return target;
    }
    if (stored > target) throw new SchemaVersionTooNewError(stored, target);
    for (let version = stored + 1; version <= target; version++) {
      const migrate = migrations[version];
      try {
        if (!migrate) throw new Error(`no migration produces version ${version}`);
        await migrate(kv);
      } catch (error) {
        throw new SchemaMigrationError(version - 1, version, { cause: error });
      }
      await kv.set(VERSION_KEY, version);
      options.logger?.info({ from: version - 1, to: version }, 'database schema upgraded');
    }
    return target;
  });
}
