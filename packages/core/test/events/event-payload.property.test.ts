import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializePayload } from '../../src/events/event-payload.js';
import { bigintReplacer, jsonWithBigInts } from '../arbitraries/json-with-bigints.js';

/** What `serializePayload` wrote before its top-level fast path: every bigint through the replacer. */
const reference = (payload: object) => JSON.stringify(payload, bigintReplacer);

// Keys as JSON orders them too: integer-like keys first, and `__proto__` as an own property.
const keys = fc.oneof(fc.string(), fc.constantFrom('__proto__', '0', '12', 'toJSON', 'amountMinor'));
const payloads = fc.dictionary(keys, fc.oneof(fc.bigInt(), jsonWithBigInts), { maxKeys: 8 });

/** True when JSON would store `value` as something else: a non-finite number (`null`), `undefined` in an array. */
const changedByJson = (value: unknown, inArray = false): boolean => {
  if (value === undefined) return inArray;
  if (typeof value === 'number') return !Number.isFinite(value);
  if (Array.isArray(value)) return value.some((item) => changedByJson(item, true));
  if (typeof value === 'object' && value !== null) return Object.values(value).some((item) => changedByJson(item));
  return false;
};

describe('serializePayload', () => {
  it('writes exactly what the bigint replacer writes, bigints at the top level or nested, or refuses what JSON would change', () => {
    fc.assert(
      fc.property(payloads, (payload) => {
        if (changedByJson(payload)) {
          expect(() => serializePayload(payload, 0)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
        } else {
          expect(serializePayload(payload, 0)).toBe(reference(payload));
        }
      }),
      { numRuns: propertyRuns(3000) },
    );
  });

  it('leaves an object with its own toJSON, or a class instance, to JSON and the replacer', () => {
    const withToJson = { amount: 5n, toJSON: () => ({ replaced: 7n }) };
    expect(serializePayload(withToJson, 0)).toBe('{"replaced":"7"}');
    class Amount {
      constructor(readonly minor: bigint) {}
    }
    expect(serializePayload(new Amount(12n), 0)).toBe('{"minor":"12"}');
    const ownProto = JSON.parse('{"__proto__": 1, "b": 2}') as Record<string, unknown>;
    ownProto['c'] = 3n;
    expect(serializePayload(ownProto, 0)).toBe('{"__proto__":1,"b":2,"c":"3"}');
  });

  it('refuses what JSON cannot carry, with the index of the event', () => {
    const cyclic: Record<string, unknown> = { amount: 1n };
    cyclic['self'] = cyclic;
    expect(() => serializePayload(cyclic, 3)).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        issues: [expect.objectContaining({ path: [3, 'payload', 'self'] })],
      }),
    );
  });
});
