import { defineSaga, MarketkitError } from '@marketkit/core';
import { context, type Span, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';

/**
 * An OpenTelemetry SDK for one test file: spans to memory, and the AsyncLocalStorage context manager (what
 * NodeSDK registers), so a span stays active across awaits and Marketkit can read the request's trace context.
 */
export function memoryTracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  return {
    exporter,
    tracerProvider: provider,
    /** Runs `work` in a span of the host's own (an HTTP request, say), and returns its result and the span. */
    async inRequest<T>(work: () => Promise<T>): Promise<{ result: T; span: Span }> {
      const tracer = provider.getTracer('host');
      return tracer.startActiveSpan('host.request', async (span) => {
        try {
          return { result: await work(), span };
        } finally {
          span.end();
        }
      });
    },
    spans(name: string): ReadableSpan[] {
      return exporter.getFinishedSpans().filter((s) => s.name === name);
    },
    async shutdown() {
      await provider.shutdown();
      context.disable();
      trace.disable();
    },
  };
}

const DETAILS = { resource: 'test', id: 'x', state: 'held', transition: 'send' };

/**
 * A saga that parks: its second step fails for good, and the compensation of its first fails for good too, so it
 * ends `failed`, waiting for an operator.
 */
export const parkingSaga = defineSaga('test.parks', {
  input: z.object({ orderId: z.string() }),
  steps: [
    {
      name: 'hold',
      kind: 'local',
      retry: { attempts: 1 },
      run: async () => ({ held: true }),
      compensate: async () => {
        throw new MarketkitError('INVALID_TRANSITION', { message: 'cannot undo the hold', details: DETAILS });
      },
    },
    {
      name: 'send',
      kind: 'external',
      retry: { attempts: 1 },
      run: async () => {
        throw new MarketkitError('INVALID_TRANSITION', { message: 'cannot send', details: DETAILS });
      },
    },
  ],
});
