/**
 * How values are written into Keyv rows: byte for byte the format of Keyv's default serializer
 * (@keyv/serialize), so databases written before and after stay readable both ways, but at the
 * speed of plain `JSON.stringify`/`JSON.parse`. @keyv/serialize walks every value in JavaScript and
 * parses with a reviver; the profile of a 5,000-feed poll put 8 % of the CPU there.
 *
 * @keyv/serialize differs from plain JSON only for strings that start with ':' (stored with one
 * more ':' in front) and Buffers (stored as ':base64:…', which Herald never stores). A string
 * starting with ':' shows in plain JSON as `":` at the start or right after `:`, `,` or `[`; only when that
 * pattern occurs is the slow, exact path taken.
 */

/** The JSON of a string value that starts with ':' (or of a key ending in one of `:,[`: a false alarm, harmless). */
const COLON_STRING = /(?:^|[:,[])":/;

/** A value already encoded by {@link encodeValue}, handed through Keyv without encoding it again. */
export class EncodedValue {
  constructor(readonly text: string) {}
}

/** A value as @keyv/serialize writes it. */
export function encodeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return COLON_STRING.test(text) ? (JSON.stringify(value, escapeColonStrings) ?? 'null') : text;
}

/** Reads what {@link encodeValue} (or @keyv/serialize) wrote. */
export function decodeValue<T = unknown>(text: string): T {
  return (COLON_STRING.test(text) ? JSON.parse(text, unescapeColonStrings) : JSON.parse(text)) as T;
}

/** The row Keyv would store for a value {@link encodeValue} encoded: `{"value":…,"expires":…}`. */
export function rowOfEncoded(encoded: string, expires?: number | null): string {
  return typeof expires === 'number' ? `{"value":${encoded},"expires":${expires}}` : `{"value":${encoded}}`;
}

/** Keyv's row format: the `serialize` option of Keyv. */
export function serializeRow(row: { value?: unknown; expires?: number | null | undefined }): string {
  return rowOfEncoded(
    row.value instanceof EncodedValue ? row.value.text : encodeValue(row.value),
    row.expires,
  );
}

/** The `deserialize` option of Keyv. */
export function deserializeRow<T>(text: string): { value?: T; expires?: number } {
  return decodeValue(text);
}

function escapeColonStrings(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.startsWith(':') ? `:${value}` : value;
}

function unescapeColonStrings(_key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value.startsWith(':base64:')) return Buffer.from(value.slice(8), 'base64');
  return value.startsWith(':') ? value.slice(1) : value;
}
