import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { beginOptionsSchema, callSchema } from '../../src/idempotency/idempotency-schemas.js';
import { plainIdempotentCall, withoutLockMs } from '../../src/idempotency/idempotent-call-check.js';

const text = (max: number) =>
  fc.oneof(
    fc.string({ maxLength: max + 2 }),
    fc.stringMatching(new RegExp(`^[\\x20-\\x7e]{1,${max + 1}}$`)),
    fc.constantFrom(
      '',
      ' ',
      'tab\there',
      'ü',
      'lone\uD800',
      'nul\u0000',
      'x'.repeat(max),
      'x'.repeat(max + 1),
      5,
      null,
      undefined,
    ),
  );
/** Any fields, often of the wrong type or out of range, sometimes unknown. */
const call: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    key: text(255),
    actor: text(255),
    operation: text(128),
    request: fc.oneof(fc.anything(), fc.constant(undefined)),
    extra: fc.constantFrom(1, undefined),
  },
  { requiredKeys: [] },
);
const valid = fc.record(
  {
    key: fc.stringMatching(/^[\x20-\x7e]{1,255}$/),
    actor: fc.string({ minLength: 1, maxLength: 255 }),
    operation: fc.string({ minLength: 1, maxLength: 128 }),
    request: fc.anything(),
  },
  { requiredKeys: ['key', 'actor', 'operation', 'request'] },
);
const mutated = fc.tuple(valid, call).map(([base, overrides]) => {
  const out: Record<string, unknown> = { ...base };
  for (const k of Object.keys(overrides).slice(0, 1)) out[k] = overrides[k];
  return out;
});

describe('plainIdempotentCall', () => {
  it('accepts only what the call schema accepts, with the scope the schema parses', () => {
    let fastHits = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, call), (c) => {
        const fast = plainIdempotentCall(c);
        const slow = callSchema.safeParse(c);
        if (fast !== undefined) {
          fastHits++;
          expect(slow.success).toBe(true);
          const { key, actor, operation } = slow.data!;
          expect(fast).toStrictEqual({ key, actor, operation });
        }
      }),
      { numRuns: propertyRuns(4000) },
    );
    expect(fastHits).toBeGreaterThan(50);
  });

  it('takes the fast path for every valid call', () => {
    fc.assert(
      fc.property(valid, (c) => {
        expect(callSchema.safeParse(c).success).toBe(true);
        expect(plainIdempotentCall(c)).toStrictEqual({ key: c.key, actor: c.actor, operation: c.operation });
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});

describe('withoutLockMs', () => {
  it('is true only for options the begin-options schema accepts without a lock time', () => {
    const options = fc.oneof(
      fc.record(
        { lockMs: fc.oneof(fc.integer(), fc.constantFrom(undefined, 1.5, '100', null)), codec: fc.anything() },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    let hits = 0;
    fc.assert(
      fc.property(options, (o) => {
        if (!withoutLockMs(o)) return;
        hits++;
        const slow = beginOptionsSchema.safeParse(o);
        expect(slow.success).toBe(true);
        expect(slow.data?.lockMs).toBeUndefined();
      }),
      { numRuns: propertyRuns(3000) },
    );
    expect(hits).toBeGreaterThan(50);
  });
});
