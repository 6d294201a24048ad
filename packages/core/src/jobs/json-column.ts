import { jsonInputText } from '../storage/json-input.js';

/**
 * Encodes a value for a JSON column, wrapped as `{"v": …}` so that every stored document is an object (a
 * top-level JSON string would read back ambiguously: PostgreSQL's jsonb is parsed by the driver, SQLite's text
 * is not). Bigints become decimal strings: read them back with `z.coerce.bigint()`.
 * @internal
 */
export function encodeJson(value: unknown): string {
  const doc = { v: value ?? null };
  if (typeof value === 'bigint') return JSON.stringify(doc, bigintAsText);
  try {
    // V8's fast serializer, without a replacer (a replacer makes every call several times slower); it throws
    // only on a bigint, which the replacer then writes as text.
    return JSON.stringify(doc);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(doc, bigintAsText);
  }
}

/**
 * {@link encodeJson} for a value the host handed in (a saga input, a job payload): refused with `VALIDATION_FAILED`
 * at `path` where JSON would change it or cannot carry it, or past `JSON_INPUT_LIMITS` (see `jsonInputText`).
 * @internal
 */
export function encodeJsonInput(value: unknown, path: readonly (string | number)[]): string {
  return `{"v":${jsonInputText(value ?? null, path)}}`;
}

const bigintAsText = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** Reads a column written by {@link encodeJson}, whether the driver returned text or parsed jsonb. @internal */
export function decodeJson(value: unknown): unknown {
  const doc = (typeof value === 'string' ? JSON.parse(value) : value) as { v?: unknown } | null;
  return doc?.v ?? null;
}
