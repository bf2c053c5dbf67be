import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Keyv } from 'keyv';
import { StoreOpenError, UnsupportedDatabaseUrlError } from './errors';
import { isSmallRecordKey, LARGE_RECORD_PREFIXES } from './keys';
import { createKeyvKeyValueStore, type KeyValueStore } from './key-value';
import { ensureSchema } from './schema';
import { BatchingKeyvSqlite } from './sqlite-adapter';
import { createStoreOver, type Store } from './store';

/** Where the store reports what it did; a pino logger fits. */
export interface StoreLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Options of `createKeyvStore`. */
export interface KeyvStoreOptions {
  logger?: StoreLogger;
  /** Base of relative sqlite:// paths; defaults to the process's working directory. */
  cwd?: string;
  /** Clock for createdAt / enqueuedAt (epoch ms); defaults to Date.now. */
  now?: () => number;
}

/** Where DATABASE_URL points, once understood. */
export type DatabaseLocation = { kind: 'memory' } | { kind: 'sqlite'; file: string };

/**
 * Interprets DATABASE_URL: `memory://`, or `sqlite://relative/path.sqlite` (against `cwd`),
 * `sqlite:///absolute/path.sqlite`, `sqlite://:memory:`. Anything else is UnsupportedDatabaseUrlError.
 */
export function parseDatabaseUrl(databaseUrl: string, cwd: string): DatabaseLocation {
  if (/^memory:(\/\/)?$/i.test(databaseUrl)) return { kind: 'memory' };
  const sqlite = /^sqlite:\/\/(.+)$/i.exec(databaseUrl);
  const path = sqlite?.[1];
  if (path === undefined) throw new UnsupportedDatabaseUrlError(databaseUrl);
  if (path === ':memory:') return { kind: 'sqlite', file: ':memory:' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch (error) {
    throw new UnsupportedDatabaseUrlError(databaseUrl, { cause: error });
  }
  return { kind: 'sqlite', file: resolve(cwd, decoded) };
}

async function openSqlite(
  databaseUrl: string,
  file: string,
  logger: StoreLogger | undefined,
): Promise<{ keyv: Keyv; adapter: BatchingKeyvSqlite }> {
  if (file !== ':memory:') {
    try {
      await mkdir(dirname(file), { recursive: true });
    } catch (error) {
      throw new StoreOpenError(databaseUrl, { cause: error });
    }
  }
  // A generous busy timeout lets a second process (deploy-commands, a backup) share the file.
  const adapter = new BatchingKeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: 5000 });
  // Keyv listens for the adapter's errors, so a failed open rejects the queries below instead of
  // crashing the process with an unhandled 'error' event.
  const keyv = new Keyv({ store: adapter, useKeyPrefix: false, throwOnErrors: true, emitErrors: false });
  try {
    // WAL lets readers run during a write and makes each write one append; NORMAL sync is safe
    // with WAL (a power cut can lose the last commits, never corrupt the file).
    const rows = (await adapter.query('PRAGMA journal_mode=WAL')) as Array<{ journal_mode?: string }>;
    await adapter.query('PRAGMA synchronous=NORMAL');
    const mode = rows[0]?.journal_mode;
    if (mode !== 'wal' && file !== ':memory:') {
      logger?.warn({ file, journalMode: mode }, 'SQLite did not switch to WAL mode; writes will be slower');
    }
  } catch (error) {
    await adapter.close().catch(() => undefined);
    throw new StoreOpenError(databaseUrl, { cause: error });
  }
  return { keyv, adapter };
}

/**
 * Opens the key-value layer DATABASE_URL names (creating the SQLite file and its folder when
 * needed), without the schema check or repositories; `createKeyvStore` builds on it.
 */
export async function openKeyValueStore(
  databaseUrl: string,
  options: Pick<KeyvStoreOptions, 'cwd' | 'logger'> = {},
): Promise<{ kv: KeyValueStore; location: DatabaseLocation }> {
  const location = parseDatabaseUrl(databaseUrl, options.cwd ?? process.cwd());
  if (location.kind === 'memory') {
    const keyv = new Keyv({ useKeyPrefix: false, throwOnErrors: true, emitErrors: false });
    return { kv: createKeyvKeyValueStore(keyv, { cacheKey: isSmallRecordKey }), location };
  }
  const { keyv, adapter } = await openSqlite(databaseUrl, location.file, options.logger);
  const kv = createKeyvKeyValueStore(keyv, {
    cacheKey: isSmallRecordKey,
    listCachedRows: (after, limit) => adapter.rowsExcept(LARGE_RECORD_PREFIXES, after, limit),
    writeRows: (rows) => adapter.setMany(rows),
  });
  return { kv, location };
}

/**
 * Opens the store DATABASE_URL names (creating the SQLite file and its folder when needed), checks
 * or upgrades its schema version, and returns the repositories.
 */
export async function createKeyvStore(databaseUrl: string, options: KeyvStoreOptions = {}): Promise<Store> {
  const { kv, location } = await openKeyValueStore(databaseUrl, options);
  try {
    const version = await ensureSchema(kv, options.logger ? { logger: options.logger } : {});
    // Feed states, subscriptions and outboxes stay in memory once read anyway; one query now
    // spares the first poll a read of each.
    await kv.warm();
    options.logger?.info(
      {
        backend: location.kind,
        ...(location.kind === 'sqlite' ? { file: location.file } : {}),
        schemaVersion: version,
      },
      'store opened',
    );
  } catch (error) {
    await kv.close().catch(() => undefined);
    throw error;
  }
  return createStoreOver(kv, options.now ? { now: options.now } : {});
}
