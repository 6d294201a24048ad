import type { Clock } from '../clock/clock.js';
import type { ProviderBreaker } from '../payments/provider-breaker.js';
import { toNumber } from '../storage/int64.js';
import type { Storage } from '../storage/storage.js';
import type { ScrapeSource } from './metric-instruments.js';

const BREAKER_STATES = { closed: 0, halfOpen: 1, open: 2 } as const;

/**
 * What one marketplace reports on a scrape: its live and parked sagas and its outbox backlog, read through its own
 * `Storage` (so of its tenant only, and from a replica where the adapter has one: a gauge may be a little behind),
 * and its provider breaker's state in this process.
 * @internal
 */
export function scrapeSource(storage: Storage, clock: Clock, breaker: ProviderBreaker | undefined): ScrapeSource {
  return {
    tenant: storage.tenant,
    async sagas() {
      const rows = await storage.read(
        (db) =>
          db
            .selectFrom('saga_instances')
            .select(['name', 'status', (eb) => eb.fn.countAll<number | bigint | string>().as('count')])
            .where('status', 'in', ['running', 'compensating', 'failed'])
            .groupBy(['name', 'status'])
            .execute(),
        'eventual',
      );
      return rows.map((r) => ({ saga: r.name, status: r.status, count: Number(r.count) }));
    },
    async outbox() {
      const row = await storage.read(
        (db) =>
          db
            .selectFrom('outbox_events')
            .select((eb) => [
              eb.fn.countAll<number | bigint | string>().as('backlog'),
              eb.fn.min('created_at').as('oldest'),
            ])
            .where('delivered_at', 'is', null)
            .executeTakeFirst(),
        'eventual',
      );
      const backlog = Number(row?.backlog ?? 0);
      const oldest = row?.oldest == null ? undefined : toNumber(row.oldest);
      return { backlog, lagSeconds: oldest === undefined ? 0 : Math.max(0, clock.now() - oldest) / 1000 };
    },
    breakerState: () => (breaker === undefined ? undefined : BREAKER_STATES[breaker.state]),
  };
}
