import type { OutboxEventInput } from '../events/event-types.js';
import type { Actor } from './order-types.js';

/** The outbox event of one order transition: `order.<transition>`, ordered per order. */
export function orderEvent(
  orderId: string,
  seq: number,
  transition: string,
  from: string | null,
  to: string,
  actor: Actor,
  data: Record<string, unknown>,
): OutboxEventInput {
  return {
    type: `order.${transition}`,
    aggregateType: 'order',
    aggregateId: orderId,
    payload: { orderId, seq, transition, from, to, actor, ...data },
  };
}
