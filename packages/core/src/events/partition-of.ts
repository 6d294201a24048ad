import { OUTBOX_PARTITIONS } from './outbox-limits.js';

/**
 * The outbox partition of an aggregate: FNV-1a (32 bit) over its type, a NUL and its id (UTF-16 code units),
 * modulo {@link OUTBOX_PARTITIONS}. Stable across processes, versions and platforms: it is stored with every
 * event, and one aggregate must never span two partitions.
 *
 * @example
 * ```ts
 * partitionOf('order', 'ord_1'); // always the same number in 0..15
 * ```
 */
export function partitionOf(aggregateType: string, aggregateId: string): number {
  let hash = 0x811c9dc5;
  const key = `${aggregateType}\u0000${aggregateId}`;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % OUTBOX_PARTITIONS;
}
