/** Discord's epoch (2015-01-01T00:00:00Z) in milliseconds; snowflake timestamps count from it. */
export const DISCORD_EPOCH_MS = 1_420_070_400_000;

/** Makes a new snowflake id each call. */
export type SnowflakeGenerator = () => string;

/**
 * Creates a generator of Discord-shaped snowflakes (42-bit timestamp, 5-bit worker, 5-bit process,
 * 12-bit increment). Ids are strictly increasing, so sorting by id sorts by creation like on Discord,
 * and they are 18–19 digits long, which @discordjs/rest needs to recognise major parameters.
 */
export function createSnowflakeGenerator(
  options: { workerId?: number; processId?: number; now?: () => number } = {},
): SnowflakeGenerator {
  const now = options.now ?? Date.now;
  const worker = BigInt((options.workerId ?? 1) & 0x1f);
  const process = BigInt((options.processId ?? 0) & 0x1f);
  let lastMs = 0;
  let increment = 0;
  return () => {
    let ms = Math.max(now() - DISCORD_EPOCH_MS, lastMs);
    if (ms === lastMs) {
      increment += 1;
      // More than 4096 ids in one millisecond: borrow the next millisecond rather than repeat an id.
      if (increment > 0xfff) {
        ms += 1;
        increment = 0;
      }
    } else {
      increment = 0;
    }
    lastMs = ms;
    return ((BigInt(ms) << 22n) | (worker << 17n) | (process << 12n) | BigInt(increment)).toString();
  };
}

/** The creation time, in Unix milliseconds, encoded in a snowflake. */
export function snowflakeTimestamp(id: string): number {
  return Number(BigInt(id) >> 22n) + DISCORD_EPOCH_MS;
}
