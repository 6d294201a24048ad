import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { linkTo } from '../observability/tracing.js';

/**
 * The trace ids to log beside an entry: the active span's (`traceId`, `spanId`) when one is, else those of the stored
 * `traceparent` of the work being logged about (the request that started a saga, say); none otherwise.
 * @internal
 */
export function traceFields(traceparent?: string | null): { traceId?: string; spanId?: string } {
  const active = trace.getSpan(context.active())?.spanContext();
  const sc = active !== undefined && isSpanContextValid(active) ? active : linkTo(traceparent)[0]?.context;
  return sc === undefined ? {} : { traceId: sc.traceId, spanId: sc.spanId };
}

/**
 * The correlation ids of a saga for a log entry: its id and name, the order it works on (an `orderId` in its input,
 * as the checkout and order-operation sagas have) and the trace that started it. Ids only, never its input's other
 * fields (a payment method, an amount).
 * @internal
 */
export function sagaFields(saga: {
  readonly id: string;
  readonly name: string;
  readonly input: unknown;
  readonly traceContext?: string | null;
}): Record<string, string> {
  const orderId = (saga.input as { orderId?: unknown } | null | undefined)?.orderId;
  return {
    sagaId: saga.id,
    saga: saga.name,
    ...(typeof orderId === 'string' ? { orderId } : {}),
    ...traceFields(saga.traceContext),
  };
}
