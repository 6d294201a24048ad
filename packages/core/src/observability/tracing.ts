import {
  type Attributes,
  context,
  isSpanContextValid,
  type Link,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { isMarketkitError } from '../errors/marketkit-error.js';

/** The API's own no-op provider: what the global proxy hands out while no SDK registered one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** The instrumentation scope of every span Marketkit starts. */
export const TRACER_NAME = '@marketkit/core';

/**
 * Marketkit's spans, through `@opentelemetry/api` only: the host's SDK (or the `tracerProvider` it passes) records
 * them. Off, and free, while neither exists: {@link on} is false and callers run their work unwrapped.
 * @internal built by `createMarketplace`; modules reach it through `Storage.observability`.
 */
export class Tracing {
  readonly #given: TracerProvider | undefined;
  #tracer: Tracer | undefined;
  #tracerOf: TracerProvider | undefined;

  constructor(provider?: TracerProvider) {
    this.#given = provider;
  }

  /** Whether spans are recorded: a provider was given, or the host registered a global one. */
  get on(): boolean {
    return (
      this.#given !== undefined || (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() !== NOOP_PROVIDER
    );
  }

  /**
   * Runs `work` in an active span `name` (its children and the trace context written to the outbox and saga rows
   * see it); the span ends with `work`, with status ERROR and the error's code only (never its message) if it threw.
   */
  span<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, links?: Link[]): Promise<T> {
    const options = { attributes, kind: SpanKind.INTERNAL, ...(links === undefined ? {} : { links }) };
    return this.#tracerNow().startActiveSpan(name, options, async (span) => {
      try {
        const result = await work(span);
        span.end();
        return result;
      } catch (error) {
        const code = errorCode(error);
        span.setAttribute('marketkit.error.code', code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        span.end();
        throw error;
      }
    });
  }

  #tracerNow(): Tracer {
    const provider = this.#given ?? trace.getTracerProvider();
    if (this.#tracer === undefined || this.#tracerOf !== provider) {
      this.#tracer = provider.getTracer(TRACER_NAME);
      this.#tracerOf = provider;
    }
    return this.#tracer;
  }
}

/**
 * The active span's context as a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), to store beside work a worker
 * picks up later (outbox events, saga rows); `null` when no span is active (always, while the host registered no
 * OpenTelemetry context manager). No allocation then.
 * @internal
 */
export function activeTraceparent(): string | null {
  const span = trace.getSpan(context.active());
  if (span === undefined) return null;
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A link to the span a stored `traceparent` names (the request that caused a worker's work); none for `null`. */
export function linkTo(traceparent: string | null | undefined): Link[] {
  const m = traceparent == null ? null : TRACEPARENT.exec(traceparent);
  if (m === null) return [];
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: Number.parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
}

/** An error's stable code for a span or a metric label: a Marketkit code, a driver's string code, or its class. */
export function errorCode(error: unknown): string {
  if (isMarketkitError(error)) return error.code;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) return code;
  return error instanceof Error ? error.name : 'unknown';
}
