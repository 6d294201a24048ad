import { ValidationError } from '../errors/validation-error.js';
import { OUTBOX_LIMITS } from './outbox-limits.js';

const withBigInts = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/**
 * Serializes a payload to JSON text, writing `bigint` as a decimal string. Throws `VALIDATION_FAILED` for
 * what JSON cannot carry (cycles) and past `OUTBOX_LIMITS.maxPayloadLength`.
 * @internal
 */
export function serializePayload(payload: object, index: number): string {
  let json: string;
  try {
    // A payload with a bigint at its top level (amounts, usually) goes straight to the replacer: letting the fast
    // path throw first costs more (an exception with its stack) than the replacer does.
    json = hasTopLevelBigInt(payload) ? JSON.stringify(payload, withBigInts) : JSON.stringify(payload);
  } catch {
    // The fast path fails on the first (nested) bigint; only then pay for the replacer.
    try {
      json = JSON.stringify(payload, withBigInts);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ValidationError([{ path: [index, 'payload'], message: `is not JSON-serializable: ${reason}` }]);
    }
  }
  if (json.length > OUTBOX_LIMITS.maxPayloadLength) {
    throw new ValidationError([
      { path: [index, 'payload'], message: `exceeds ${OUTBOX_LIMITS.maxPayloadLength} characters of JSON` },
    ]);
  }
  return json;
}

function hasTopLevelBigInt(payload: object): boolean {
  for (const key in payload) {
    if (typeof (payload as Record<string, unknown>)[key] === 'bigint') return true;
  }
  return false;
}

/** Reads a payload column: parsed already (PostgreSQL `jsonb`) or JSON text (SQLite). @internal */
export function parsePayload<P>(value: unknown): P {
  return (typeof value === 'string' ? JSON.parse(value) : value) as P;
}
