import { ManualClock, type TestDatabase, testBackends } from '@marketkit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents } from '../../src/events/index.js';
import { Ledger } from '../../src/ledger/index.js';
import { transferCreatedEvent } from '../../src/ledger/transfer-events.js';
import type { TransferInput } from '../../src/ledger/transfer-types.js';
import { migrate } from '../../src/schema/migrate.js';
import { Storage } from '../../src/storage/storage.js';

// The marketplace's ledger knows the one event its outbox hook writes per created transfer, so on PostgreSQL a batch
// writes those events in its own write statement instead of calling the hook. Either way the outbox must hold the
// same events: same aggregates, sequence numbers, sort keys, partitions, types, payloads and times.
for (const backend of testBackends()) {
  describe(`transfer.created events on ${backend.name}`, () => {
    let database: TestDatabase;
    const clock = new ManualClock(1_700_000_000_000);
    const ledgers: Record<'known' | 'hook', { storage: Storage; ledger: Ledger }> = {} as never;

    beforeAll(async () => {
      database = await backend.createDatabase();
      for (const tenant of ['known', 'hook'] as const) {
        const storage = new Storage(database.adapter({ max: 2 }), { tenant });
        if (tenant === 'known') await migrate(storage);
        const hook = (
          trx: Parameters<typeof appendEvents>[0],
          created: readonly Parameters<typeof transferCreatedEvent>[0][],
        ) =>
          appendEvents(trx, created.map(transferCreatedEvent), {
            clock,
            backend: storage.adapter,
            templates: storage.templates,
          }).then(() => {});
        const ledger =
          tenant === 'known'
            ? new Ledger(storage, clock, hook, transferCreatedEvent)
            : new Ledger(storage, clock, hook);
        ledgers[tenant] = { storage, ledger };
      }
    });
    afterAll(async () => {
      for (const { storage } of Object.values(ledgers)) await storage?.destroy();
      await database?.drop();
    });

    it('writes the same outbox events whether the batch writes them or calls the hook', async () => {
      const batches: TransferInput[][] = [
        [
          { id: 't1', debitAccountId: 'ext', creditAccountId: 'a', amount: 500n, currency: 'USD', code: 1 },
          {
            id: 't2',
            debitAccountId: 'ext',
            creditAccountId: 'b',
            amount: 300n,
            currency: 'USD',
            code: 1,
            reference: 'r',
          },
          {
            id: 't3',
            debitAccountId: 'a',
            creditAccountId: 'b',
            amount: 100n,
            currency: 'USD',
            code: 2,
            flags: { pending: true },
            timeoutSeconds: 60,
          },
        ],
        [
          { id: 't4', pendingId: 't3', amount: 40n, flags: { postPending: true } },
          { id: 't5', debitAccountId: 'b', creditAccountId: 'a', amount: 10_000n, currency: 'USD', code: 2 }, // exceeds
          {
            id: 't6',
            debitAccountId: 'a',
            creditAccountId: 'b',
            amount: 7n,
            currency: 'USD',
            code: 3,
            flags: { linked: true },
          },
          { id: 't7', debitAccountId: 'b', creditAccountId: 'a', amount: 1n, currency: 'USD', code: 3 },
        ],
        [{ id: 't1', debitAccountId: 'ext', creditAccountId: 'a', amount: 500n, currency: 'USD', code: 1 }], // exists
      ];
      const outcomes: Record<string, unknown[]> = { known: [], hook: [] };
      for (const { ledger } of Object.values(ledgers)) {
        await ledger.createAccounts([
          { id: 'ext', currency: 'USD', code: 1 },
          { id: 'a', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
          { id: 'b', currency: 'USD', code: 2, flags: { debitsMustNotExceedCredits: true } },
        ]);
      }
      for (const batch of batches) {
        clock.advance(1_000); // both at the same time: same created_at and sort keys
        for (const [tenant, { ledger }] of Object.entries(ledgers)) {
          outcomes[tenant]!.push((await ledger.createTransfers(batch)).map((r) => r.result));
        }
      }
      expect(outcomes['known']).toEqual(outcomes['hook']);
      expect(outcomes['known']![1]).toEqual(['ok', 'exceedsCredits', 'ok', 'ok']);
      const rows = async (tenant: 'known' | 'hook') =>
        (
          await ledgers[tenant].storage.db
            .selectFrom('outbox_events')
            .select([
              'aggregate_type',
              'aggregate_id',
              'seq',
              'sort_key',
              'partition_no',
              'type',
              'payload',
              'created_at',
            ])
            .orderBy('aggregate_id')
            .orderBy('seq')
            .execute()
        ).map((r) => ({
          ...r,
          seq: String(r.seq),
          sort_key: String(r.sort_key),
          created_at: String(r.created_at),
          payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
        }));
      const known = await rows('known');
      const hooked = await rows('hook');
      expect(known.map((r) => (r.payload as { id: string }).id)).toEqual(['t3', 't4', 't6', 't7', 't1', 't2']);
      expect(known.map((r) => r.seq)).toEqual(['1', '2', '3', '1', '1', '2']);
      expect(known).toEqual(hooked);
      const t2 = known.find((r) => (r.payload as { id: string }).id === 't2')!;
      expect(t2.payload).toMatchObject({ amount: '300', reference: 'r', debitAccountId: 'ext', pendingId: null });
    });
  });
}
