import { MarketkitError } from '../errors/marketkit-error.js';

/**
 * Runs `work` with a signal that aborts when `parent` does or after `timeoutMs`; a timeout rejects with a
 * retryable `PROVIDER_TIMEOUT` (the outcome of the work is unknown: retry it with the same idempotency key).
 * @internal
 */
export async function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number | undefined,
  parent: AbortSignal,
  what: string,
): Promise<T> {
  if (timeoutMs === undefined) return work(parent);
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new MarketkitError('PROVIDER_TIMEOUT', {
        message: `${what} did not finish within ${timeoutMs} ms.`,
        details: { operation: what, timeoutMs },
      });
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onParent);
  }
}
