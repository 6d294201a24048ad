import { jsonInputText } from '../storage/json-input.js';

const withBigInts = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/**
 * Serializes a payload to JSON text, writing `bigint` as a decimal string. Throws `VALIDATION_FAILED` for what JSON
 * cannot carry or would change, and past `OUTBOX_LIMITS.maxPayloadLength` (see `jsonInputText`).
 * @internal
 */
export function serializePayload(payload: object, index: number): string {
  return jsonInputText(payload, [index, 'payload'], writePayload);
}

function writePayload(payload: unknown): string {
  try {
    // A bigint at the top level (amounts, usually) is written as text in a shallow copy, which then takes the fast
    // path: a replacer makes every call several times slower, and letting the fast path throw first costs more (an
    // exception with its stack) than the replacer does.
    return JSON.stringify(withTopLevelBigIntsAsText(payload as object));
  } catch {
    // The fast path fails on the first (nested) bigint; only then pay for the replacer.
    return JSON.stringify(payload, withBigInts);
  }
}

/**
 * `payload` itself when no own property of it is a bigint; otherwise a copy, keys in the same order, with each
 * top-level bigint as its decimal text (what the replacer would write). An object with its own `toJSON`, or not
 * plain, is returned as it is (the replacer path then handles it, as JSON would call `toJSON` first).
 */
function withTopLevelBigIntsAsText(payload: object): object {
  const record = payload as Record<string, unknown>;
  const keys = Object.keys(record);
  let i = 0;
  while (i < keys.length && typeof record[keys[i]!] !== 'bigint') i++;
  if (i === keys.length) return payload;
  const proto = Object.getPrototypeOf(payload);
  if ((proto !== Object.prototype && proto !== null) || typeof record['toJSON'] === 'function') return payload;
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    if (key === '__proto__') return payload; // an own `__proto__` would set the copy's prototype instead
    const value = record[key];
    copy[key] = typeof value === 'bigint' ? value.toString() : value;
  }
  return copy;
}

/** Reads a payload column: parsed already (PostgreSQL `jsonb`) or JSON text (SQLite). @internal */
export function parsePayload<P>(value: unknown): P {
  return (typeof value === 'string' ? JSON.parse(value) : value) as P;
}
