import { z } from 'zod';
import { storableText } from '../errors/storable-text.js';
import { currencyCodeSchema } from '../money/currency.js';
import { LEDGER_LIMITS, MAX_INT64 } from './ledger-limits.js';

const L = LEDGER_LIMITS;

/** Ids are printable ASCII without spaces, 1–128 characters. */
export const ledgerIdSchema = z
  .string()
  .min(1)
  .max(L.maxIdLength)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** Non-negative integer minor units up to 2^63-1, as bigint, safe-integer number or digit string. */
export const minorUnitsSchema = z
  .union([z.bigint(), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,19}$/)])
  .transform((v) => BigInt(v))
  .refine((v) => v >= 0n && v <= MAX_INT64, 'must be an integer number of minor units between 0 and 2^63-1');

/**
 * An id looked up (`getAccount`): any string, since an id no account can have is simply not found; anything else
 * (an array, a number) is `VALIDATION_FAILED` rather than a driver error.
 */
export const lookupIdSchema = z.string();
export const lookupIdsSchema = z.array(lookupIdSchema).readonly();

const codeSchema = z.number().int().min(0).max(L.maxCode);

export const accountInputSchema = z.strictObject({
  id: ledgerIdSchema,
  currency: currencyCodeSchema,
  code: codeSchema,
  ownerId: storableText().min(1).max(L.maxIdLength).optional(),
  flags: z
    .strictObject({
      debitsMustNotExceedCredits: z.boolean().optional(),
      creditsMustNotExceedDebits: z.boolean().optional(),
    })
    .optional(),
  userData: storableText().max(L.maxUserDataLength).optional(),
});

export const transferInputSchema = z.strictObject({
  id: ledgerIdSchema,
  debitAccountId: ledgerIdSchema.optional(),
  creditAccountId: ledgerIdSchema.optional(),
  amount: minorUnitsSchema.optional(),
  currency: currencyCodeSchema.optional(),
  code: codeSchema.optional(),
  reference: storableText().max(L.maxReferenceLength).optional(),
  userData: storableText().max(L.maxUserDataLength).optional(),
  flags: z
    .strictObject({
      linked: z.boolean().optional(),
      pending: z.boolean().optional(),
      postPending: z.boolean().optional(),
      voidPending: z.boolean().optional(),
    })
    .optional(),
  pendingId: ledgerIdSchema.optional(),
  timeoutSeconds: z.number().int().min(0).max(L.maxTimeoutSeconds).optional(),
});

/** A transfer after validation: amounts are bigint. */
export type ParsedTransfer = z.output<typeof transferInputSchema>;
export type ParsedAccount = z.output<typeof accountInputSchema>;

export const accountBatchSchema = z.array(accountInputSchema).min(1).max(L.maxBatchSize);
export const transferBatchSchema = z.array(transferInputSchema).min(1).max(L.maxBatchSize);

export const listTransfersSchema = z.strictObject({
  accountId: ledgerIdSchema,
  limit: z.number().int().min(1).max(L.maxPageSize).default(50),
  cursor: storableText().max(400).optional(),
});

const pageLimitSchema = z.number().int().min(1).max(L.maxPageSize).default(50);
const cursorSchema = storableText().max(400).optional();
/** An instant, in milliseconds since the epoch (the ledger's timestamps). */
const instantSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const listAccountsSchema = z
  .strictObject({
    code: codeSchema.optional(),
    currency: currencyCodeSchema.optional(),
    flags: z
      .strictObject({
        debitsMustNotExceedCredits: z.boolean().optional(),
        creditsMustNotExceedDebits: z.boolean().optional(),
      })
      .optional(),
    idPrefix: ledgerIdSchema.optional(),
    limit: pageLimitSchema,
    cursor: cursorSchema,
  })
  .default({ limit: 50 });

export const queryTransfersSchema = z
  .strictObject({
    accountId: ledgerIdSchema.optional(),
    side: z.enum(['debit', 'credit', 'either']).default('either'),
    from: instantSchema.optional(),
    to: instantSchema.optional(),
    code: codeSchema.optional(),
    pendingStatus: z.enum(['pending', 'posted', 'voided', 'expired']).optional(),
    order: z.enum(['newest', 'oldest']).default('newest'),
    limit: pageLimitSchema,
    cursor: cursorSchema,
  })
  .refine((q) => q.side === 'either' || q.accountId !== undefined, {
    path: ['side'],
    message: 'needs accountId',
  })
  .default({ side: 'either', order: 'newest', limit: 50 });

export const accountBalanceSchema = z.strictObject({ accountId: lookupIdSchema, at: instantSchema });
