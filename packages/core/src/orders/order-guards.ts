import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import type { EffectParams } from './order-effects.js';
import type { OrdersTable } from './order-tables.js';
import type { ProcessTransition } from './process/process-definition.js';

/** Checks a transition's guards against the locked order; throws (and nothing changes) when one fails. */
export function checkGuards(
  t: ProcessTransition,
  order: Selectable<OrdersTable>,
  params: EffectParams,
  escrowMinor: bigint,
): void {
  for (const guard of t.guards) {
    if (guard === 'escrowFrozen' && Number(order.frozen) === 0) {
      throw new MarketkitError('INVALID_TRANSITION', { message: `Order ${order.id}: escrow is not frozen.` });
    }
    if (guard === 'escrowNotFrozen' && Number(order.frozen) !== 0) {
      throw new MarketkitError('INVALID_TRANSITION', { message: `Order ${order.id}: escrow is frozen by a dispute.` });
    }
    if (guard === 'refundWithinEscrow') {
      const amount = params.amountMinor;
      if (amount === undefined || amount <= 0n) {
        throw new MarketkitError('VALIDATION_FAILED', { message: `${t.name} needs amountMinor > 0.` });
      }
      if (amount > escrowMinor) {
        throw new MarketkitError('INSUFFICIENT_FUNDS', {
          message: `Order ${order.id} holds ${escrowMinor} in escrow; cannot refund ${amount}.`,
          details: { escrowMinor, amountMinor: amount },
        });
      }
    }
    if (guard === 'splitWithinEscrow' && params.buyerPercent === undefined) {
      throw new MarketkitError('VALIDATION_FAILED', { message: `${t.name} needs buyerPercent between 0 and 100.` });
    }
  }
}
