import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJson, encodeJson } from '../../src/jobs/json-column.js';
import { bigintReplacer, jsonWithBigInts } from '../arbitraries/json-with-bigints.js';

/** What `encodeJson` wrote before its fast path: every call through the bigint replacer. */
const reference = (value: unknown) => JSON.stringify({ v: value ?? null }, bigintReplacer);
const values = jsonWithBigInts;

describe('encodeJson', () => {
  it('writes exactly what the bigint replacer writes, for any value, bigints nested anywhere', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(encodeJson(value)).toBe(reference(value));
      }),
      { numRuns: propertyRuns(2000) },
    );
  });

  it('reads back what it wrote, with bigints as decimal text', () => {
    expect(decodeJson(encodeJson({ amount: 2n ** 70n, list: [1n] }))).toEqual({
      amount: '1180591620717411303424',
      list: ['1'],
    });
    expect(decodeJson(encodeJson(5n))).toBe('5');
  });

  it('still refuses what JSON cannot carry', () => {
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(() => encodeJson(cycle)).toThrow(TypeError);
  });
});
