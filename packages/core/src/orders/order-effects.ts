import type { Selectable } from 'kysely';
import { isMarketkitError } from '../errors/marketkit-error.js';
import type { CommissionRule } from '../listings/listing-types.js';
import { moveReservation } from '../listings/stock-store.js';
import { Money } from '../money/money.js';
import { orderPaymentKeys } from '../payments/order-payment-keys.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import { toBigInt } from '../storage/int64.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import { type Escrow, splitEscrow } from './escrow.js';
import type { OrdersTable } from './order-tables.js';
import type { EffectName } from './process/process-definition.js';

/** Parameters a transition carries into its effects. */
export interface EffectParams {
  readonly amountMinor?: bigint | undefined;
  readonly buyerPercent?: number | undefined;
  readonly captureId?: string | undefined;
}

/** What the provider calls of a transition produced, for its local effects. */
export interface ExternalOutcome {
  /** Minor units refunded to the buyer at the provider by this transition. */
  refundedMinor: bigint;
}

const EXTERNAL: ReadonlySet<EffectName> = new Set([
  'voidAuthorization',
  'refundBuyer',
  'refundBuyerPartial',
  'resolveSplit',
]);

/** True when any effect calls the payment provider (and so the transition runs in two commits around it). */
export function needsProvider(effects: readonly EffectName[]): boolean {
  return effects.some((e) => EXTERNAL.has(e));
}

/**
 * Runs a transition's provider calls, each with an idempotency key derived from the order, the event sequence
 * and the effect, so a retried or resumed transition never refunds or voids twice.
 */
export async function runProviderCalls(
  payments: PaymentProvider,
  order: Selectable<OrdersTable>,
  effects: readonly EffectName[],
  params: EffectParams,
  escrowMinor: bigint,
  seq: number,
): Promise<ExternalOutcome> {
  const currency = order.currency;
  const out: ExternalOutcome = { refundedMinor: 0n };
  for (const effect of effects) {
    if (effect === 'voidAuthorization' && order.authorization_id !== null && order.capture_id === null) {
      // The checkout's capture, if it went through unrecorded, has one refund key whoever refunds it (this cancel or
      // the checkout saga's compensation), so it is refunded once.
      await voidOrRefundCapture(payments, order, order.authorization_id, orderPaymentKeys.checkoutRefund(order.id));
    }
    const refund =
      effect === 'refundBuyer'
        ? escrowMinor
        : effect === 'refundBuyerPartial'
          ? (params.amountMinor ?? 0n)
          : effect === 'resolveSplit'
            ? splitEscrow(Money.fromMinor(escrowMinor, currency), params.buyerPercent ?? 0)[0].minor
            : 0n;
    if (refund > 0n && order.capture_id !== null) {
      await payments.refund({
        idempotencyKey: orderPaymentKeys.refund(order.id, seq, effect),
        captureId: order.capture_id,
        amountMinor: refund,
        currency,
      });
      out.refundedMinor += refund;
    }
  }
  return out;
}

/** What {@link voidOrRefundCapture} did at the provider. */
export type PaymentReversal =
  | { readonly action: 'voided'; readonly authorizationId: string; readonly amountMinor: bigint }
  | {
      readonly action: 'refunded';
      readonly authorizationId: string;
      readonly captureId: string;
      readonly refundId: string;
      readonly amountMinor: bigint;
    };

/**
 * Voids the order's authorization `authorizationId` (key `<order>:void`); if the provider says it was already
 * captured (a checkout that crashed after capture), replays the capture by its key to learn its id (no new charge)
 * and refunds it in full with key `refundKey`. Every call is keyed, so running it again changes nothing.
 */
export async function voidOrRefundCapture(
  payments: PaymentProvider,
  order: Selectable<OrdersTable>,
  authorizationId: string,
  refundKey: string,
): Promise<PaymentReversal> {
  const amountMinor = toBigInt(order.amount_minor);
  try {
    await payments.void({ idempotencyKey: orderPaymentKeys.void(order.id), authorizationId });
    return { action: 'voided', authorizationId, amountMinor };
  } catch (error) {
    if (!isMarketkitError(error) || error.code !== 'PAYMENT_DECLINED') throw error;
    const capture = await payments.capture({
      idempotencyKey: orderPaymentKeys.capture(order.id),
      authorizationId,
      amountMinor,
      currency: order.currency,
    });
    const refund = await payments.refund({
      idempotencyKey: refundKey,
      captureId: capture.captureId,
      amountMinor,
      currency: order.currency,
    });
    return {
      action: 'refunded',
      authorizationId,
      captureId: capture.captureId,
      refundId: refund.refundId,
      amountMinor,
    };
  }
}

/** Context of the local effects of one transition. */
export interface LocalEffectContext {
  readonly trx: MarketkitTransaction;
  readonly escrow: Escrow;
  readonly order: Selectable<OrdersTable>;
  readonly rule: CommissionRule;
  readonly params: EffectParams;
  readonly seq: number;
  readonly now: number;
  readonly external: ExternalOutcome;
}

/** Column changes the local effects ask of the order row. */
export interface OrderPatch {
  capture_id?: string;
  frozen?: number;
  refunded_minor?: bigint;
  commission_minor?: bigint;
}

/** What a transition's local effects did: the order columns to update, and the escrow balance if it is known. */
export interface LocalOutcome {
  readonly patch: OrderPatch;
  /** The escrow balance after the effects, when the last one that moved escrow reported it; else read it. */
  readonly escrowMinor: bigint | undefined;
}

/** Runs a transition's database effects inside its transaction and returns the order columns to update. */
export async function runLocalEffects(ctx: LocalEffectContext, effects: readonly EffectName[]): Promise<LocalOutcome> {
  const { trx, escrow, order, now, seq } = ctx;
  const view = { id: order.id, sellerId: order.seller_id, currency: order.currency };
  const patch: OrderPatch = {};
  let escrowMinor: bigint | undefined;
  let refunded = toBigInt(order.refunded_minor);
  let commission = toBigInt(order.commission_minor);
  for (const effect of effects) {
    if (effect === 'captureToEscrow') {
      escrowMinor = await escrow.capture(trx, view, Money.fromMinor(toBigInt(order.amount_minor), order.currency));
      if (ctx.params.captureId !== undefined) patch.capture_id = ctx.params.captureId;
    } else if (effect === 'markStockSold') {
      await moveReservation(trx, order.reservation_id, 'sell', now);
    } else if (effect === 'releaseStock') {
      if ((await moveReservation(trx, order.reservation_id, 'release', now)) === undefined) {
        await moveReservation(trx, order.reservation_id, 'restock', now);
      }
    } else if (effect === 'freezeEscrow') {
      patch.frozen = 1;
    } else if (effect === 'releaseToSeller') {
      escrowMinor = undefined;
      commission += (await escrow.release(trx, view, ctx.rule, String(seq))).minor;
    } else if (effect === 'refundBuyer' || effect === 'refundBuyerPartial') {
      escrowMinor = undefined;
      const amount =
        effect === 'refundBuyer' ? (await escrow.balance(trx, view)).minor : (ctx.params.amountMinor ?? 0n);
      await escrow.refund(trx, view, Money.fromMinor(amount, order.currency), `${seq}`);
      refunded += amount;
    } else if (effect === 'resolveSplit') {
      escrowMinor = undefined;
      const balance = await escrow.balance(trx, view);
      const [buyer, seller] = splitEscrow(balance, ctx.params.buyerPercent ?? 0);
      await escrow.refund(trx, view, buyer, `${seq}`);
      refunded += buyer.minor;
      commission += (await escrow.paySellerShare(trx, view, seller, ctx.rule, String(seq))).minor;
    }
  }
  if (refunded !== toBigInt(order.refunded_minor)) patch.refunded_minor = refunded;
  if (commission !== toBigInt(order.commission_minor)) patch.commission_minor = commission;
  return { patch, escrowMinor };
}
