import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventBatchSchema, plainEventBatch } from '../../src/events/event-schemas.js';

const text = (max: number) =>
  fc.oneof(
    fc.string({ minLength: 1, maxLength: max }),
    fc.string({ maxLength: max + 2 }),
    fc.constantFrom('', 'x'.repeat(max), 'x'.repeat(max + 1), 'lone\uDC00', 'nul\u0000', 7, null, undefined),
  );
/** Events with fields often of the wrong type or out of range, sometimes with extra fields (the schema strips them). */
const event: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      type: text(200),
      aggregateType: text(100),
      aggregateId: text(200),
      payload: fc.oneof(fc.object(), fc.constantFrom(null, [], [1], 'x', 1, undefined, { amount: 5n })),
      extra: fc.anything(),
    },
    { requiredKeys: ['type', 'aggregateType', 'aggregateId', 'payload'] },
  ),
  fc.record(
    {
      type: fc.string({ minLength: 1, maxLength: 200 }),
      aggregateType: fc.string({ minLength: 1, maxLength: 100 }),
      aggregateId: fc.string({ minLength: 1, maxLength: 200 }),
      payload: fc.object(),
    },
    { noNullPrototype: false },
  ),
  fc.constantFrom(null, 'event', 1, [], undefined),
);

describe('plainEventBatch', () => {
  it('accepts only what the batch schema accepts, as the schema parses it', () => {
    let fastHits = 0;
    fc.assert(
      fc.property(fc.array(event, { maxLength: 4 }), (batch) => {
        const fast = plainEventBatch(batch);
        const slow = eventBatchSchema.safeParse(batch);
        if (fast !== undefined) {
          fastHits++;
          expect(slow.success).toBe(true);
          expect(fast).toStrictEqual(slow.data);
        } else if (slow.success) {
          // only inputs that are not plain objects may be left to the schema though it accepts them
          expect(batch.some((e) => Object.getPrototypeOf(e) !== Object.prototype)).toBe(true);
        }
      }),
      { numRuns: propertyRuns(3000) },
    );
    expect(fastHits).toBeGreaterThan(100);
  });

  it('leaves what is not an array, or too long, to the schema', () => {
    const e = { type: 't', aggregateType: 'a', aggregateId: 'i', payload: {} };
    expect(plainEventBatch({ 0: e, length: 1 })).toBeUndefined();
    expect(plainEventBatch(Array.from({ length: 10_001 }, () => e))).toBeUndefined();
    expect(eventBatchSchema.safeParse(Array.from({ length: 10_001 }, () => e)).success).toBe(false);
  });
});
