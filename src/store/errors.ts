/** Base class of every error the store raises, so callers can tell storage problems apart. */
export abstract class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** DATABASE_URL names a backend Herald has no adapter for. */
export class UnsupportedDatabaseUrlError extends StoreError {
  constructor(
    readonly databaseUrl: string,
    options?: ErrorOptions,
  ) {
    super(
      `DATABASE_URL "${databaseUrl}" is not supported. Use sqlite://path/to/file.sqlite (relative to the working ` +
        'directory, or sqlite:///absolute/path.sqlite) or memory:// (nothing kept after exit). ' +
        'Redis or PostgreSQL would need the @keyv/redis or @keyv/postgres adapter added to Herald first.',
      options,
    );
  }
}

/** The database could not be opened or prepared (folder not writable, file not SQLite, …). */
export class StoreOpenError extends StoreError {
  constructor(
    readonly databaseUrl: string,
    options?: ErrorOptions,
  ) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(
      `Could not open the database at ${databaseUrl}${detail}. Check DATABASE_URL and the folder's permissions.`,
      options,
    );
  }
}

/** The database was written by a newer Herald; running older code on it could lose data. */
export class SchemaVersionTooNewError extends StoreError {
  constructor(
    readonly storedVersion: number,
    readonly supportedVersion: number,
    options?: ErrorOptions,
  ) {
    super(
      `The database uses schema version ${storedVersion}, but this Herald only understands up to version ` +
        `${supportedVersion}. Upgrade Herald to the version that last wrote this database (or newer).`,
      options,
    );
  }
}

/** A schema upgrade step is missing or failed; the stored version is left at the last completed step. */
export class SchemaMigrationError extends StoreError {
  constructor(
    readonly fromVersion: number,
    readonly toVersion: number,
    options?: ErrorOptions,
  ) {
    super(`Could not upgrade the database from schema version ${fromVersion} to ${toVersion}.`, options);
  }
}

/** An operation was attempted after `close()`. */
export class StoreClosedError extends StoreError {
  constructor(options?: ErrorOptions) {
    super('The store is closed.', options);
  }
}

/** The server already has as many subscriptions as MAX_FEEDS_PER_GUILD allows. */
export class SubscriptionLimitError extends StoreError {
  constructor(
    readonly guildId: string,
    readonly limit: number,
    options?: ErrorOptions,
  ) {
    super(
      `This server already has ${limit} feed subscription${limit === 1 ? '' : 's'}, the most allowed. ` +
        'Remove one first, or ask the bot operator to raise MAX_FEEDS_PER_GUILD.',
      options,
    );
  }
}

/** The channel is already subscribed to this feed URL. */
export class DuplicateSubscriptionError extends StoreError {
  constructor(
    /** The id of the subscription that already exists. */
    readonly existingId: string,
    readonly channelId: string,
    readonly feedUrl: string,
    options?: ErrorOptions,
  ) {
    super(`That channel is already subscribed to ${feedUrl}.`, options);
  }
}
