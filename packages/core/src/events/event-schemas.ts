import { z } from 'zod';
import { isStorableText, storableText } from '../errors/storable-text.js';
import { OUTBOX_LIMITS } from './outbox-limits.js';

const text = (max: number) => storableText().min(1).max(max);

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

/** One event as {@link eventInputSchema} parses it. */
export type ParsedEventInput = z.output<typeof eventInputSchema>;

const within = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && isStorableText(v);

/**
 * The batch as {@link eventBatchSchema} would parse it (each event with only its four fields), when it is an
 * array of plain objects whose fields are of the parsed type within their limits; `undefined` otherwise, and then
 * the caller runs the schema, which decides (and explains). The same checks as the schema for exactly those
 * batches, without its cost on every append; a property test holds the two together.
 * @internal
 */
export function plainEventBatch(events: unknown): ParsedEventInput[] | undefined {
  if (!Array.isArray(events) || events.length > OUTBOX_LIMITS.maxEventsPerAppend) return;
  const out: ParsedEventInput[] = [];
  for (let i = 0; i < events.length; i++) {
    const e: unknown = events[i];
    if (typeof e !== 'object' || e === null) return;
    const proto = Object.getPrototypeOf(e) as unknown;
    if (proto !== Object.prototype && proto !== null) return;
    const { type, aggregateType, aggregateId, payload } = e as Record<string, unknown>;
    if (!within(type, OUTBOX_LIMITS.maxTypeLength) || !within(aggregateType, OUTBOX_LIMITS.maxAggregateTypeLength))
      return;
    if (!within(aggregateId, OUTBOX_LIMITS.maxAggregateIdLength) || !isPayloadObject(payload)) return;
    out.push({ type, aggregateType, aggregateId, payload });
  }
  return out;
}
