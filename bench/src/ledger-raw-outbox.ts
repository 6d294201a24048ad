/**
 * The outbox rows of the ledger bench's baseline: one `transfer.created` event per created transfer, as the SDK's
 * marketplace writes them (ULID ids, the debit account as the aggregate, its FNV-1a partition, the payload's JSON,
 * and each aggregate's sequence numbers and sort keys reserved by an upsert of its counter row), so the baseline
 * does the same work as `createTransfers`.
 */
import { monotonicFactory } from 'ulid';

/** The columns of a created transfer the event is built from. */
export interface CreatedTransferRow {
  readonly id: string | number | bigint | null;
  readonly debit_account_id: string | number | bigint | null;
  readonly credit_account_id: string | number | bigint | null;
  readonly amount: string | number | bigint | null;
  readonly currency: string | number | bigint | null;
  readonly code: string | number | bigint | null;
  readonly reference: string | number | bigint | null;
  readonly pending_id: string | number | bigint | null;
  readonly flags: string | number | bigint | null;
}

/** One aggregate's events: its id, how many, and the indexes of its events in the batch, in order. */
export interface RawAggregate {
  readonly aggregateId: string;
  readonly indexes: number[];
  readonly partition: number;
}

/** A batch's events, ready to write: one per transfer, in order, grouped by aggregate (sorted, as the SDK locks). */
export interface RawEvents {
  readonly ids: string[];
  readonly aggregateIds: string[];
  readonly payloads: string[];
  readonly aggregates: RawAggregate[];
  /** Sort-key base: ms × 1000, as the SDK. */
  readonly baseKey: number;
}

const nextId = monotonicFactory();
const OUTBOX_PARTITIONS = 16;

/** The SDK's `partitionOf`: FNV-1a over type, NUL, id, modulo the partition count. */
function partitionOf(aggregateType: string, aggregateId: string): number {
  let hash = 0x811c9dc5;
  const key = `${aggregateType}\u0000${aggregateId}`;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % OUTBOX_PARTITIONS;
}

/** The events of the transfers a batch created, written at `now`. */
export function rawEvents(rows: readonly CreatedTransferRow[], now: number): RawEvents {
  const ids: string[] = [];
  const aggregateIds: string[] = [];
  const payloads: string[] = [];
  const byAggregate = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const flags = Number(r.flags);
    const aggregateId = String(r.debit_account_id);
    ids.push(nextId(now));
    aggregateIds.push(aggregateId);
    payloads.push(
      JSON.stringify({
        id: r.id,
        debitAccountId: r.debit_account_id,
        creditAccountId: r.credit_account_id,
        amount: String(r.amount),
        currency: r.currency,
        code: Number(r.code),
        reference: r.reference,
        pendingId: r.pending_id,
        flags: {
          linked: (flags & 1) !== 0,
          pending: (flags & 2) !== 0,
          postPending: (flags & 4) !== 0,
          voidPending: (flags & 8) !== 0,
        },
      }),
    );
    const group = byAggregate.get(aggregateId);
    if (group === undefined) byAggregate.set(aggregateId, [i]);
    else group.push(i);
  });
  const aggregates = [...byAggregate.keys()].sort().map((aggregateId) => ({
    aggregateId,
    indexes: byAggregate.get(aggregateId)!,
    partition: partitionOf('account', aggregateId),
  }));
  return { ids, aggregateIds, payloads, aggregates, baseKey: now * 1000 };
}
