const REPLAYED = Symbol.for('@marketkit/core/replayed');

/**
 * True when `result` came back from an idempotency key's stored outcome rather than from running the operation:
 * the result of `orders.checkout`, `orders.transition`, `payouts.request` or `idempotency.execute` called again with
 * a key (or payout id) already used for the same request. The mark is not an enumerable property, so a replayed
 * result still equals (and serializes like) the first one; an HTTP layer turns it into `Idempotent-Replayed: true`.
 *
 * @example
 * ```ts
 * const order = await market.orders.checkout({ ...request, idempotencyKey: req.header('Idempotency-Key') });
 * if (isReplayed(order)) res.set('Idempotent-Replayed', 'true');
 * ```
 */
export function isReplayed(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as Record<symbol, unknown>)[REPLAYED] === true;
}

/**
 * Marks an object result as a replay (see {@link isReplayed}); a frozen or sealed one is copied first. Other values
 * are returned as they are (`idempotency.executeDetailed` reports their replay).
 * @internal
 */
export function markReplayed<T>(result: T): T {
  if (typeof result !== 'object' || result === null) return result;
  const target = Object.isExtensible(result) ? result : (copyOf(result) as T & object);
  Object.defineProperty(target, REPLAYED, { value: true, enumerable: false });
  return target;
}

function copyOf(value: object): object {
  return Array.isArray(value)
    ? [...value]
    : Object.assign(Object.create(Object.getPrototypeOf(value) as object), value);
}
