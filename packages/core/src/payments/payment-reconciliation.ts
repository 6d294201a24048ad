import { z } from 'zod';
import type { PaymentProvider } from './payment-provider.js';

/**
 * What `market.payments.reconcile()` can find, one stable string per kind:
 * - `capture_not_recorded`: the provider captured money (key `<order>:capture`) that no order's escrow records,
 *   and that was not given back by a compensating refund;
 * - `capture_missing_at_provider`: an order's escrow records a capture the provider does not have;
 * - `capture_mismatch`: both have it, with another amount, currency or capture id;
 * - `refund_not_recorded`: the provider refunded money no order records as refunded;
 * - `refund_missing_at_provider`: an order recorded a refund the provider does not have;
 * - `refund_mismatch`: both have it, with another amount, currency or capture;
 * - `payout_not_recorded`: the provider paid out money under a key no paid payout records;
 * - `payout_missing_at_provider`: a payout is `paid` but the provider has no payout with its key;
 * - `payout_mismatch`: both have it, with another amount, currency or provider payout id;
 * - `authorization_left_open`: an authorization still open at the provider whose order is terminal, does not exist,
 *   or is older than the reservation window;
 * - `paid_without_capture`: an order that is paid (or later) without a capture id.
 */
export type PaymentDiscrepancyKind =
  | 'capture_not_recorded'
  | 'capture_missing_at_provider'
  | 'capture_mismatch'
  | 'refund_not_recorded'
  | 'refund_missing_at_provider'
  | 'refund_mismatch'
  | 'payout_not_recorded'
  | 'payout_missing_at_provider'
  | 'payout_mismatch'
  | 'authorization_left_open'
  | 'paid_without_capture';

/** Every {@link PaymentDiscrepancyKind}, in the order a report lists them. */
export const PAYMENT_DISCREPANCY_KINDS: readonly PaymentDiscrepancyKind[] = Object.freeze([
  'capture_not_recorded',
  'capture_missing_at_provider',
  'capture_mismatch',
  'refund_not_recorded',
  'refund_missing_at_provider',
  'refund_mismatch',
  'payout_not_recorded',
  'payout_missing_at_provider',
  'payout_mismatch',
  'authorization_left_open',
  'paid_without_capture',
]);

/** One thing on which Marketkit and the provider disagree. Fields that do not apply are absent. */
export interface PaymentDiscrepancy {
  readonly kind: PaymentDiscrepancyKind;
  /** What is wrong, for a human. */
  readonly message: string;
  readonly orderId?: string;
  readonly payoutId?: string;
  /** The provider's id of the object (capture, refund, payout, authorization). */
  readonly providerObjectId?: string;
  /** The idempotency key the provider's effect was (or should have been) made with. */
  readonly key?: string;
  /** Marketkit's record: a ledger transfer id or a payout id. */
  readonly localId?: string;
  /** The amount at stake: what moved on the side that has it (for a mismatch, Marketkit's amount). */
  readonly amountMinor?: bigint;
  /** For a mismatch: the provider's amount. */
  readonly providerAmountMinor?: bigint;
  readonly currency?: string;
  /** When the effect or record was made (ms since the epoch). */
  readonly at?: number;
}

/** How many records a reconciliation compared. */
export interface PaymentReconciliationCounts {
  /** Effects the provider listed in the window, by type. */
  readonly authorizations: number;
  readonly captures: number;
  readonly refunds: number;
  readonly payouts: number;
  /** Orders and payouts compared (those with an effect or a record in the window). */
  readonly orders: number;
  readonly localPayouts: number;
  /** Provider pages read (window and lookups by key). */
  readonly pages: number;
}

/** The report of `market.payments.reconcile()`: `ok` when no discrepancy was found. */
export interface PaymentReconciliation {
  readonly ok: boolean;
  readonly from: number;
  readonly to: number;
  /** The marketplace clock's time when the report was made (the age of open authorizations is measured to it). */
  readonly asOf: number;
  readonly checked: PaymentReconciliationCounts;
  /** Sorted by kind (in {@link PAYMENT_DISCREPANCY_KINDS} order), then order or payout id, then key. */
  readonly discrepancies: readonly PaymentDiscrepancy[];
}

/** What `market.payments.reconcile()` takes. */
export interface PaymentReconciliationInput {
  /** Start of the window (inclusive), ms since the epoch. */
  readonly from: number;
  /** End of the window (exclusive), ms since the epoch; at least `from`. */
  readonly to: number;
  /** Effects asked of the provider per page (1–1000, default 100). */
  readonly pageSize?: number;
  /** The provider to reconcile against; default the marketplace's `payments`. */
  readonly provider?: PaymentProvider;
}

const time = z.number().int().min(0).max(8_640_000_000_000_000);

/** @internal */
export const reconciliationInputSchema = z
  .strictObject({
    from: time,
    to: time,
    pageSize: z.number().int().min(1).max(1000).optional(),
    provider: z
      .custom<PaymentProvider>(
        (v) => typeof v === 'object' && v !== null && typeof (v as PaymentProvider).capture === 'function',
        'must be a PaymentProvider',
      )
      .optional(),
  })
  .refine((v) => v.to >= v.from, { message: 'must not be before from', path: ['to'] });
