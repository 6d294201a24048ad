import { propertyRuns } from '@marketkit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transferInputSchema } from '../../src/ledger/ledger-schemas.js';
import { plainPostedTransfer } from '../../src/ledger/plain-transfer-check.js';
import type { TransferInput } from '../../src/ledger/transfer-types.js';

const id = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e]{1,130}$/),
  fc.constantFrom('', 'has space', 'ü-not-ascii', 'x'.repeat(128), 'x'.repeat(129)),
);
const transfer: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    id,
    debitAccountId: id,
    creditAccountId: id,
    amount: fc.oneof(
      fc.bigInt({ min: -5n, max: 2n ** 64n }),
      fc.constantFrom(0n, 9_223_372_036_854_775_807n, 9_223_372_036_854_775_808n, 5, '7'),
    ),
    currency: fc.constantFrom('USD', 'EUR', 'JPY', 'usd', 'XYZ', 'US', 1),
    code: fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(1.5, 65535, 65536)),
    reference: fc.oneof(fc.string({ maxLength: 260 }), fc.constantFrom('lone\uD800', 'nul\u0000')),
    userData: fc.oneof(fc.string({ maxLength: 1030 }), fc.constantFrom('lone\uDC00', 'nul\u0000')),
    flags: fc.constantFrom({ pending: true }, {}, undefined),
    pendingId: id,
    timeoutSeconds: fc.nat(),
  },
  { requiredKeys: [] },
);

const valid = fc.record(
  {
    id: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
    debitAccountId: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
    creditAccountId: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
    amount: fc.bigInt({ min: 0n, max: 9_223_372_036_854_775_807n }),
    currency: fc.constantFrom('USD', 'EUR', 'JPY', 'BHD'),
    code: fc.integer({ min: 0, max: 65535 }),
    reference: fc.string({ maxLength: 256 }),
    userData: fc.string({ maxLength: 1024 }),
  },
  { requiredKeys: ['id', 'debitAccountId', 'creditAccountId', 'amount', 'currency'] },
);

/** A valid plain transfer with a few fields overridden (often out of range) or removed. */
const mutated = fc
  .tuple(valid, transfer, fc.subarray(['id', 'debitAccountId', 'creditAccountId', 'amount', 'currency']))
  .map(([base, overrides, dropped]) => {
    const keys = Object.keys(overrides).filter((k) => k !== 'id');
    const out: Record<string, unknown> = { ...base };
    for (const k of keys.slice(0, 2)) out[k] = overrides[k];
    for (const k of dropped.slice(0, 1)) delete out[k];
    return out;
  });

describe('plainPostedTransfer', () => {
  it('accepts only what the ledger schema accepts, as the schema parses it', () => {
    let fastHits = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, transfer), (t) => {
        const fast = plainPostedTransfer(t as unknown as TransferInput);
        const slow = transferInputSchema.safeParse(t);
        if (fast !== undefined) {
          fastHits++;
          expect(slow.success).toBe(true);
          expect(fast).toEqual(slow.data);
        }
      }),
      { numRuns: propertyRuns(3000) },
    );
    expect(fastHits).toBeGreaterThan(20); // the comparison ran on accepted transfers, not only on rejections
  });

  it('takes the fast path for every valid plain posted transfer', () => {
    fc.assert(
      fc.property(valid, (t) => {
        expect(transferInputSchema.safeParse(t).success).toBe(true);
        expect(plainPostedTransfer(t as TransferInput)).toEqual(t);
      }),
      { numRuns: propertyRuns(2000) },
    );
  });
});
