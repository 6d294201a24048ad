import { MarketkitError, Money } from '@marketkit/core';
import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_LIMITS as L } from '../../src/idempotency/idempotency-limits.js';
import { canonicalJson, requestFingerprint } from '../../src/idempotency/request-fingerprint.js';
import { decodeError, decodeResult, encodeError, encodeResult } from '../../src/idempotency/result-encoding.js';

/** The same value with every object's keys in reverse insertion order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .reverse()
      .map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]),
  );
}

const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);

/** Keys that collide with the encoding's tags, and the prototype's name, besides arbitrary strings. */
const trickyKey = fc.oneof(
  fc.string(),
  fc.constantFrom('$bigint', '$number', '$undefined', '$object', '$', '$x', '__proto__'),
);

describe('request fingerprints', () => {
  it('writes a flat request (its fast path) exactly as it writes the same object nested (the general path)', () => {
    const primitive = fc.oneof(
      fc.string(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.integer(),
    );
    const flat = fc
      .array(fc.tuple(fc.oneof(trickyKey, fc.nat().map(String)), primitive), { maxLength: 8 })
      .map((entries) => {
        const o: Record<string, unknown> = {};
        for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true });
        return o;
      });
    fc.assert(
      fc.property(flat, (request) => {
        // Inside an array an object always takes the general path.
        expect(`[${canonicalJson(request)}]`).toBe(canonicalJson([request]));
      }),
      { numRuns: propertyRuns(2000) },
    );
  });

  it('writes canonical JSON: sorted keys, bigint as a string, JSON semantics otherwise', () => {
    expect(canonicalJson({ b: 1n, a: [true, undefined, Number.NaN], c: undefined, d: 'é' })).toBe(
      '{"a":[true,null,null],"b":"1","d":"é"}',
    );
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson({ price: Money.of('12.34', 'USD'), at: new Date(0) })).toBe(
      '{"at":"1970-01-01T00:00:00.000Z","price":{"amount":"1234","currency":"USD"}}',
    );
    expect(requestFingerprint({ amount: 500n })).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint({ amount: 500n })).toBe(requestFingerprint({ amount: '500' }));
    expect(requestFingerprint({ amount: 500n })).not.toBe(requestFingerprint({ amount: 500 }));
  });

  it('gives the same fingerprint whatever the key order, and another one when a value changes', () => {
    fc.assert(
      fc.property(fc.dictionary(trickyKey, fc.jsonValue()), fc.string(), (request, leaf) => {
        expect(requestFingerprint(reverseKeys(request))).toBe(requestFingerprint(request));
        const changed = { ...request, ['\u0000leaf']: leaf };
        const other = { ...request, ['\u0000leaf']: `${leaf}!` };
        expect(requestFingerprint(changed)).not.toBe(requestFingerprint(other));
      }),
    );
  });

  it('refuses what JSON cannot say, and enforces the depth and size limits at their edge', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const bad of [{ f: () => 1 }, [Symbol('s')], new Set([1]), { m: new Map() }, cyclic]) {
      expect(() => requestFingerprint(bad)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
    // Shared (not cyclic) references are fine.
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]');
    expect(() => requestFingerprint(nested(L.maxDepth))).not.toThrow();
    expect(() => requestFingerprint(nested(L.maxDepth + 1))).toThrow(/deeper/);
    expect(() => requestFingerprint('x'.repeat(L.maxRequestBytes - 2))).not.toThrow();
    expect(() => requestFingerprint('x'.repeat(L.maxRequestBytes - 1))).toThrow(/bytes/);
  });
});

describe('stored results', () => {
  it('round-trips any plain value exactly, bigint, -0, NaN, undefined and tag-like keys included', () => {
    const value = fc.anything({ withBigInt: true, key: trickyKey, maxDepth: 4 });
    fc.assert(
      fc.property(value, (v) => {
        expect(decodeResult(encodeResult(v))).toStrictEqual(v);
      }),
      { numRuns: propertyRuns(300) },
    );
    for (const v of [2n ** 70n, -(2n ** 63n), -0, Number.NaN, -Infinity, undefined, { $bigint: '1' }, { $object: 1 }]) {
      expect(decodeResult(encodeResult(v))).toStrictEqual(v);
    }
  });

  it('keeps "__proto__" an own key and never touches a prototype', () => {
    const v = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const back = decodeResult(encodeResult(v)) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // (toStrictEqual compares `constructor` properties, so the property test leaves that key to this one.)
    const ctor = decodeResult(encodeResult({ constructor: [1n] })) as Record<string, unknown>;
    expect(Object.hasOwn(ctor, 'constructor') && ctor['constructor']).toEqual([1n]);
  });

  it('refuses class instances, functions and cycles, and enforces the limits at their edge', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const bad of [new Date(0), Money.of('1', 'USD'), { m: new Map() }, [() => 1], cyclic]) {
      expect(() => encodeResult(bad)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
    expect(() => encodeResult(Money.of('1', 'USD'))).toThrow(/codec/);
    expect(() => encodeResult(nested(L.maxDepth))).not.toThrow();
    expect(() => encodeResult(nested(L.maxDepth + 1))).toThrow(/deeper/);
    expect(() => encodeResult('x'.repeat(L.maxResultBytes - 2))).not.toThrow();
    expect(() => encodeResult('x'.repeat(L.maxResultBytes - 1))).toThrow(/bytes/);
  });

  it('stores an error as its code, message and details and rebuilds it not retryable', () => {
    const error = new MarketkitError('INSUFFICIENT_FUNDS', {
      message: 'Card declined.',
      details: { accountId: '$x', amountMinor: '500' },
    });
    const back = decodeError(encodeError(error));
    expect(back.toJSON()).toStrictEqual(error.toJSON());
    expect(back.retryable).toBe(false);
    // Details that are not the code's shape (a record from before shapes, tampered with) rebuild as INTERNAL.
    const foreign = decodeError('{"code":"NOT_FOUND","message":"m","details":{"at":"1970-01-01T00:00:00.000Z"}}');
    expect(foreign.code).toBe('INTERNAL');
    expect(foreign.message).toMatch(/NOT_FOUND/);
    expect(decodeError('{"code":"NO_SUCH_CODE","message":"m","details":{}}').code).toBe('INTERNAL');
  });
});
