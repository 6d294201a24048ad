import type { ResultCodec } from '../idempotency/idempotency-types.js';
import { Money, type MoneyJSON } from '../money/money.js';
import type { Order } from './order-types.js';

const MONEY_FIELDS = ['amount', 'commission', 'refunded', 'escrowBalance'] as const;

/** Stores an `Order` as plain JSON (Money as `{ amount, currency }`) for idempotent replays, and back. */
export const ORDER_CODEC: ResultCodec<Order> = {
  encode: (order) => {
    const out: Record<string, unknown> = { ...order };
    for (const f of MONEY_FIELDS) out[f] = order[f].toJSON();
    return out;
  },
  decode: (stored) => {
    const raw = stored as Record<string, unknown>;
    const out: Record<string, unknown> = { ...raw };
    for (const f of MONEY_FIELDS) out[f] = Money.fromJSON(raw[f] as MoneyJSON);
    return out as unknown as Order;
  },
};
