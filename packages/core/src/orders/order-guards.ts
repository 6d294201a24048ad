import type { Selectable } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { escrowAccounts } from './escrow-accounts.js';
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
      throw guardFailed(t, order, `Order ${order.id}: escrow is not frozen.`);
    }
    if (guard === 'escrowNotFrozen' && Number(order.frozen) !== 0) {
      throw guardFailed(t, order, `Order ${order.id}: escrow is frozen by a dispute.`);
    }
    if (guard === 'refundWithinEscrow') {
      const amount = params.amountMinor;
      if (amount === undefined || amount <= 0n) {
        throw invalidParam('amountMinor', `${t.name} needs amountMinor > 0.`);
      }
      if (amount > escrowMinor) {
        throw new MarketkitError('INSUFFICIENT_FUNDS', {
          message: `Order ${order.id} holds ${escrowMinor} in escrow; cannot refund ${amount}.`,
          details: {
            accountId: escrowAccounts.escrow(order.id),
            amountMinor: String(amount),
            availableMinor: String(escrowMinor),
          },
        });
      }
    }
    if (guard === 'splitWithinEscrow' && params.buyerPercent === undefined) {
      throw invalidParam('buyerPercent', `${t.name} needs buyerPercent between 0 and 100.`);
    }
  }
}

function guardFailed(
  t: ProcessTransition,
  order: Selectable<OrdersTable>,
  message: string,
): MarketkitError<'INVALID_TRANSITION'> {
  return new MarketkitError('INVALID_TRANSITION', {
    message,
    details: { resource: 'order', id: order.id, state: order.state, transition: t.name },
  });
}

function invalidParam(name: string, message: string): ValidationError {
  return new ValidationError([{ path: [name], message }], message);
}
