import { z } from 'zod';
import { OUTBOX_LIMITS } from './outbox-limits.js';

const text = (max: number) => z.string().min(1).max(max);

const isPayloadObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One event as `appendEvents` accepts it. */
export const eventInputSchema = z.object({
  type: text(OUTBOX_LIMITS.maxTypeLength),
  aggregateType: text(OUTBOX_LIMITS.maxAggregateTypeLength),
  aggregateId: text(OUTBOX_LIMITS.maxAggregateIdLength),
  payload: z.custom<object>(isPayloadObject, 'must be a JSON object'),
});

/** A batch given to `appendEvents`. */
export const eventBatchSchema = z.array(eventInputSchema).max(OUTBOX_LIMITS.maxEventsPerAppend);
