import { isMarketkitError } from '../errors/marketkit-error.js';

/**
 * Where Marketkit reports what would otherwise go unseen: errors of the worker's loop and of the sagas and jobs it
 * runs, outbox deliveries that failed. The shape of pino's (and bunyan's) methods, a fields object then a message,
 * so a pino logger is one: `createMarketplace({ adapter, logger: pino() })`. Marketkit logs ids and error codes,
 * never amounts, payment methods, destinations or the messages of errors that are not its own (a driver's or a
 * handler's message may quote the data it failed on).
 *
 * @example
 * ```ts
 * const logger: Logger = {
 *   error: (obj, msg) => myLog.error(msg, obj),
 *   warn: (obj, msg) => myLog.warn(msg, obj),
 *   info: () => {},
 *   debug: () => {},
 * };
 * ```
 */
export interface Logger {
  /** Something failed and nobody else will hear of it: a worker round, a saga or job error, a relay run. */
  error(obj: Readonly<Record<string, unknown>>, msg?: string): void;
  /** Something failed and will be retried: an outbox delivery, say. */
  warn(obj: Readonly<Record<string, unknown>>, msg?: string): void;
  /** What happened, for operators who want to follow along. */
  info(obj: Readonly<Record<string, unknown>>, msg?: string): void;
  /** Detail for debugging. */
  debug(obj: Readonly<Record<string, unknown>>, msg?: string): void;
}

/**
 * The default {@link Logger}: errors and warnings to `console.error` and `console.warn`, info and debug dropped.
 *
 * @example
 * ```ts
 * createMarketplace({ adapter, logger: consoleLogger }); // the same as leaving `logger` out
 * ```
 */
export const consoleLogger: Logger = Object.freeze({
  error: (obj: Readonly<Record<string, unknown>>, msg?: string) => console.error(`[marketkit] ${msg ?? ''}`, obj),
  warn: (obj: Readonly<Record<string, unknown>>, msg?: string) => console.warn(`[marketkit] ${msg ?? ''}`, obj),
  info: () => {},
  debug: () => {},
});

/**
 * A {@link Logger} that drops everything, for a host that wants no output (tests, say).
 *
 * @example
 * ```ts
 * createMarketplace({ adapter, logger: silentLogger });
 * ```
 */
export const silentLogger: Logger = Object.freeze({ error: () => {}, warn: () => {}, info: () => {}, debug: () => {} });

/**
 * The fields Marketkit logs for `error`: a Marketkit error's code, retryable flag and message (its messages name
 * ids and codes, not personal data); of any other error only its class name and a string `code` (a driver's
 * SQLSTATE, say), never its message.
 * @internal
 */
export function errorFields(error: unknown): Record<string, unknown> {
  if (isMarketkitError(error)) {
    return { code: error.code, retryable: error.retryable, message: error.message };
  }
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? { errorClass: name, code } : { errorClass: name };
}
