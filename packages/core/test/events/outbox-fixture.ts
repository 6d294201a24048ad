import type { TestDatabase } from '@marketkit/testing';
import type { Clock } from '../../src/clock/clock.js';
import type { OutboxEventInput } from '../../src/events/index.js';
import { appendEvents } from '../../src/events/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';

/** Opens Marketkit storage on a test database (its own pool or connection); the first call migrates. */
export async function openStorage(database: TestDatabase, max = 4): Promise<Storage> {
  const storage = new Storage(database.adapter({ max }));
  await migrate(storage);
  return storage;
}

/** Commits `events` in one transaction, as `market.events.append` does (a single event through statement templates). */
export function commitEvents(storage: Storage, events: readonly OutboxEventInput[], clock?: Clock) {
  return storage.transaction((trx) => appendEvents(trx, events, commitOptions(storage, clock)));
}

/** The options modules append with (`market.events.append`): the backend and the storage's templates. */
export function commitOptions(storage: Storage, clock?: Clock) {
  const options = { backend: storage.adapter, templates: storage.templates };
  return clock === undefined ? options : { ...options, clock };
}

/** An event of aggregate `order/<id>` with a small payload. */
export function orderEvent(id: string, n: number, type = 'order.updated'): OutboxEventInput {
  return { type, aggregateType: 'order', aggregateId: id, payload: { n } };
}

/** Undelivered events left in the outbox. */
export async function pendingCount(storage: Storage): Promise<number> {
  const row = await storage.db
    .selectFrom('outbox_events')
    .select((eb) => eb.fn.countAll<bigint | number>().as('n'))
    .where('delivered_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The lease and backoff row of a partition. */
export async function partitionRow(storage: Storage, partition: number) {
  return storage.db
    .selectFrom('outbox_partitions')
    .selectAll()
    .where('partition_no', '=', BigInt(partition))
    .executeTakeFirstOrThrow();
}

/** A promise with its resolve function, to hold a sink until the test says go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
