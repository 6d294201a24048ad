import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseInput } from '../../src/errors/validation-error.js';
import { transferBatchSchema } from '../../src/ledger/ledger-schemas.js';
import { parseTransferBatch } from '../../src/ledger/transfer-batch-check.js';

const goodId = fc.stringMatching(/^[\x21-\x7e]{1,128}$/);
const id = fc.oneof(goodId, fc.constantFrom('', 'has space', 'ü-not-ascii', 'x'.repeat(128), 'x'.repeat(129)));
const flags = fc.oneof(
  fc.record(
    { linked: fc.boolean(), pending: fc.boolean(), postPending: fc.boolean(), voidPending: fc.boolean() },
    { requiredKeys: [] },
  ),
  fc.constantFrom({ pending: 'yes' }, { other: true }, { linked: undefined }, null, [], undefined),
);
/** Any field, often malformed (wrong type, out of range, `undefined`). */
const anyField: Record<string, fc.Arbitrary<unknown>> = {
  id,
  debitAccountId: id,
  creditAccountId: id,
  amount: fc.oneof(
    fc.bigInt({ min: -5n, max: 2n ** 64n }),
    fc.constantFrom(0n, 9_223_372_036_854_775_807n, 9_223_372_036_854_775_808n, 5, '7', -1, 1.5, undefined),
  ),
  currency: fc.constantFrom('USD', 'EUR', 'JPY', 'usd', 'XYZ', 'US', 1, undefined),
  code: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(1.5, 65535, 65536, '1')),
  reference: fc.oneof(fc.string({ maxLength: 260 }), fc.constantFrom('lone\uD800', 'nul\u0000', null)),
  userData: fc.oneof(fc.string({ maxLength: 1030 }), fc.constantFrom('lone\uDC00', 'nul\u0000')),
  flags,
  pendingId: id,
  timeoutSeconds: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, 2_147_483_647, 2_147_483_648, '60')),
  extra: fc.constant(1),
};

const valid = fc.record(
  {
    id: goodId,
    debitAccountId: goodId,
    creditAccountId: goodId,
    amount: fc.bigInt({ min: 0n, max: 9_223_372_036_854_775_807n }),
    currency: fc.constantFrom('USD', 'EUR', 'JPY', 'BHD'),
    code: fc.integer({ min: 0, max: 65535 }),
    reference: fc.string({ maxLength: 256 }),
    userData: fc.string({ maxLength: 1024 }),
    flags: fc.record(
      { linked: fc.boolean(), pending: fc.boolean(), postPending: fc.boolean(), voidPending: fc.boolean() },
      { requiredKeys: [] },
    ),
    pendingId: goodId,
    timeoutSeconds: fc.integer({ min: 0, max: 2_147_483_647 }),
  },
  { requiredKeys: ['id'] },
);

/** A valid transfer with at most one field overridden by a (often malformed) value. */
const mutated = fc
  .tuple(valid, fc.constantFrom(...Object.keys(anyField)), fc.nat(), fc.boolean())
  .chain(([base, key, , mutate]) =>
    mutate ? anyField[key]!.map((v) => ({ ...base, [key]: v }) as Record<string, unknown>) : fc.constant(base),
  );

const outcome = (f: () => unknown) => {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, message: (error as Error).message, code: (error as { code?: unknown }).code };
  }
};

describe('parseTransferBatch', () => {
  it('returns what the batch schema returns, and throws what it throws', () => {
    fc.assert(
      fc.property(fc.array(mutated, { minLength: 0, maxLength: 4 }), (batch) => {
        const fast = outcome(() => parseTransferBatch(batch));
        const slow = outcome(() => parseInput(transferBatchSchema, batch, 'transfers'));
        expect(fast).toEqual(slow);
      }),
      { numRuns: propertyRuns(3000) },
    );
  });

  it('accepts every valid batch, copying the caller’s objects', () => {
    fc.assert(
      fc.property(fc.array(valid, { minLength: 1, maxLength: 5 }), (batch) => {
        const parsed = parseTransferBatch(batch);
        expect(parsed).toEqual(transferBatchSchema.parse(batch));
        parsed.forEach((t, i) => {
          expect(t).not.toBe(batch[i]);
          if (t.flags !== undefined) expect(t.flags).not.toBe(batch[i]!.flags);
        });
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});
