import type { OnConflictBuilder } from 'kysely';
import { monotonicFactory } from 'ulid';
import type { Clock } from '../clock/clock.js';
import { pooledRandom } from '../ids/id-factory.js';
import type { MarketkitDatabase } from '../schema/database.js';

/** Sort keys are ms × 1000, so an aggregate can take 1000 events per ms before its keys run ahead of time. @internal */
export const KEY_SCALE = 1000;

// Monotonic factories (plain `ulid()` costs tens of µs), one per clock: an id's time part is its clock's time,
// which the retention sweep relies on, even when a test mixes a manual clock with the system clock.
type IdFactory = ReturnType<typeof monotonicFactory>;
const idFactories = new WeakMap<Clock, IdFactory>();

/** The monotonic id factory of `clock`'s writers. @internal */
export function idFactory(clock: Clock): IdFactory {
  let factory = idFactories.get(clock);
  if (factory === undefined) {
    factory = monotonicFactory(pooledRandom());
    idFactories.set(clock, factory);
  }
  return factory;
}

/**
 * `count` new outbox event ids for events written at `now` by `clock`'s writers, in order: the ids
 * {@link appendEvents} would give them. For statements that write events themselves (see `outbox-ctes.ts`).
 * @internal
 */
export function nextOutboxIds(clock: Clock, now: number, count: number): string[] {
  const nextId = idFactory(clock);
  const ids = new Array<string>(count);
  for (let i = 0; i < count; i++) ids[i] = nextId(now);
  return ids;
}

/** The sort-key base of events written at `now` (ms × {@link KEY_SCALE}). @internal */
export function sortKeyBase(now: number): number {
  return now * KEY_SCALE;
}

/**
 * The `ON CONFLICT` of the per-aggregate counter upsert: an existing counter advances by the batch's count, and
 * its sort key to the batch's base key or past its own, whichever is greater (never backwards).
 * @internal shared by `appendEvents` and the one-event path of `outbox-steps.ts`.
 */
export function advanceCounter(oc: OnConflictBuilder<MarketkitDatabase, 'outbox_aggregates'>) {
  return oc.columns(['aggregate_type', 'aggregate_id']).doUpdateSet((eb) => {
    const advanced = eb('outbox_aggregates.last_key', '+', eb.ref('excluded.last_seq'));
    return {
      last_seq: eb('outbox_aggregates.last_seq', '+', eb.ref('excluded.last_seq')),
      last_key: eb
        .case()
        .when(eb.ref('excluded.last_key'), '>', advanced)
        .then(eb.ref('excluded.last_key'))
        .else(advanced)
        .end(),
    };
  });
}
