import type { OutboxEventInput } from '../events/event-types.js';
import { transferFlagsFromBits } from './ledger-flags.js';
import type { TransferRecord } from './ledger-state.js';

/** Payload of a `transfer.created` event (amounts as strings once serialized). */
export interface TransferCreatedPayload {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: number;
  readonly reference: string | null;
  readonly pendingId: string | null;
  readonly flags: ReturnType<typeof transferFlagsFromBits>;
}

/**
 * The outbox event a created transfer writes in its own transaction. Ordered per debit account (the account
 * lock already serializes its writers, so this adds no contention).
 */
export function transferCreatedEvent(t: TransferRecord): OutboxEventInput<'transfer.created', TransferCreatedPayload> {
  return {
    type: 'transfer.created',
    aggregateType: 'account',
    aggregateId: t.debitAccountId,
    payload: {
      id: t.id,
      debitAccountId: t.debitAccountId,
      creditAccountId: t.creditAccountId,
      amount: t.amount,
      currency: t.currency,
      code: t.code,
      reference: t.reference,
      pendingId: t.pendingId,
      flags: transferFlagsFromBits(t.flags),
    },
  };
}
