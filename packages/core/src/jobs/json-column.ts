/**
 * Encodes a value for a JSON column, wrapped as `{"v": …}` so that every stored document is an object (a
 * top-level JSON string would read back ambiguously: PostgreSQL's jsonb is parsed by the driver, SQLite's text
 * is not). Bigints become decimal strings: read them back with `z.coerce.bigint()`.
 * @internal
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify({ v: value ?? null }, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Reads a column written by {@link encodeJson}, whether the driver returned text or parsed jsonb. @internal */
export function decodeJson(value: unknown): unknown {
  const doc = (typeof value === 'string' ? JSON.parse(value) : value) as { v?: unknown } | null;
  return doc?.v ?? null;
}
