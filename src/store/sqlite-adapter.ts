import KeyvSqlite, { type KeyvSqliteOptions } from '@keyv/sqlite';

/** One row of a batched write, as Keyv hands it to the adapter (the value already serialized). */
interface SerializedEntry {
  key: string;
  value: string;
}

/**
 * @keyv/sqlite with the two batch operations Keyv uses when an adapter has them: `setMany` as one
 * upsert statement (one commit for a whole batch instead of one per key), and `getMany` matching
 * rows through a Map (the stock one scans the result once per key, n² for a large batch).
 */
export class BatchingKeyvSqlite extends KeyvSqlite {
  constructor(options: KeyvSqliteOptions) {
    super(options);
  }

  /** Writes every entry in one statement, so the batch commits (or fails) as a whole. */
  async setMany(entries: SerializedEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const table = this.opts.table ?? 'keyv';
    // `WHERE true` tells SQLite's parser the ON CONFLICT belongs to the INSERT, not to a join.
    await this.query(
      `INSERT INTO ${table} (key, value)
         SELECT json_extract(entry.value, '$[0]'), json_extract(entry.value, '$[1]')
         FROM json_each(?) AS entry WHERE true
       ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      JSON.stringify(entries.map(({ key, value }) => [key, value])),
    );
  }

  override async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    const table = this.opts.table ?? 'keyv';
    const rows = (await this.query(
      `SELECT key, value FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`,
      JSON.stringify(keys),
    )) as Array<{ key: string; value: Value }>;
    const byKey = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => byKey.get(key));
  }
}
