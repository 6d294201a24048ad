/**
 * The multi-tenant rules, checked on the real schema and the real statements: after `migrate()` every Marketkit
 * table carries `tenant` first in its primary key and unique indexes (and the check reports a table or index that
 * does not); on PostgreSQL every statement the whole flow sends for a tenant filters every scan of a Marketkit table
 * by that tenant and every insert writes it (and the check reports one that does not).
 */
import { createMarketplace } from '@marketkit/core';
import { type TestDatabase, testBackends } from '@marketkit/testing';
import { CompiledQuery, Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../src/storage/storage.js';
import { lockedBatchViolations } from '../storage/locked-batch-check.js';
import { TestReceiver } from '../webhooks/webhook-fixture.js';
import {
  insertViolations,
  physicalTableNames,
  type RecordedStatement,
  recordingAdapter,
  sqliteStatementViolations,
  statementViolations,
  tenancySchemaViolations,
} from './tenancy-checks.js';
import { openTenantMarket, runFlow } from './tenant-flow.js';

for (const backend of testBackends()) {
  describe(`tenancy schema rules on ${backend.name}`, () => {
    let database: TestDatabase;
    let storage: Storage;

    beforeAll(async () => {
      database = await backend.createDatabase();
      const market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      await market.close();
      storage = new Storage(database.adapter());
    });
    afterAll(async () => {
      await storage?.destroy();
      await database?.drop();
    });

    it('holds for every table after migrate()', async () => {
      expect(await tenancySchemaViolations(storage)).toEqual([]);
    });

    it('reports a table without the tenant first in its key, and a unique index without it', async () => {
      const db = storage.unscopedDb;
      await sql`create table mk_rogue (id text primary key, tenant text not null default '')`.execute(db);
      await sql`create unique index mk_listings_rogue on mk_listings (seller_id, id)`.execute(db);
      await sql`create table mk_headless (id text not null, note text)`.execute(db);
      await sql`create table mk_linked (tenant text not null, id text not null, order_id text references mk_rogue (id),
        primary key (tenant, id))`.execute(db);
      try {
        const problems = await tenancySchemaViolations(storage);
        expect(problems).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^mk_rogue: primary key .* starts with id, not tenant$/),
            'mk_listings: unique index mk_listings_rogue starts with seller_id, not tenant',
            'mk_headless: no tenant column',
            'mk_headless: no primary key',
            expect.stringMatching(/^mk_linked: foreign key .* starts with order_id, not tenant$/),
          ]),
        );
        expect(problems).toHaveLength(5);
      } finally {
        await sql`drop index mk_listings_rogue`.execute(db);
        await sql`drop table mk_linked`.execute(db);
        await sql`drop table mk_rogue`.execute(db);
        await sql`drop table mk_headless`.execute(db);
      }
      expect(await tenancySchemaViolations(storage)).toEqual([]);
    });
  });
}

/** The defaults, and a prefix and schema of their own with the other stock strategy (its own statements). */
const PLACEMENTS = [{}, { tablePrefix: 'tn_', schema: 'tn', listings: { stockStrategy: 'rowLock' } }] as const;

for (const backend of testBackends().filter((b) => b.name === 'postgres')) {
  for (const placement of PLACEMENTS) {
    const prefix = 'tablePrefix' in placement ? placement.tablePrefix : 'mk_';
    describe(`tenancy statement rules on postgres, tables ${JSON.stringify(placement)}`, () => {
      let database: TestDatabase;
      let explainer: Kysely<unknown>;
      let receiver: TestReceiver & { url: string };
      const recorded: RecordedStatement[] = [];

      beforeAll(async () => {
        database = await backend.createDatabase();
        const setup = createMarketplace({ adapter: database.adapter(), ...placement });
        await setup.migrate();
        await setup.close();
        explainer = new Kysely<unknown>({ dialect: database.adapter().dialect });
        // Another tenant's rows first, so that a statement reaching them would have something to find.
        const other = openTenantMarket(database.adapter(), 'beta', placement);
        const alpha = openTenantMarket(recordingAdapter(database.adapter(), recorded), 'alpha', placement);
        receiver = await TestReceiver.start(alpha.clock);
        try {
          await runFlow(other, receiver.url);
          await runFlow(alpha, receiver.url);
          // More of what a deployment runs: the order timers, expiry sweeps, the feed head, reconciliation.
          alpha.clock.advance(4 * 24 * 3600 * 1000);
          await alpha.market.worker().runOnce();
          await alpha.market.orders.feedHead();
          await alpha.market.payments.reconcile({ from: 0, to: alpha.clock.now(), provider: alpha.psp });
          await alpha.market.idempotency.sweepExpired();
          await alpha.market.events.relay.sweep();
          await alpha.market.leases.acquire('tenancy-lease', 'me', 1000);
        } finally {
          await other.market.close();
          await alpha.market.close();
        }
      });
      afterAll(async () => {
        await receiver?.close();
        await explainer?.destroy();
        await database?.drop();
      });

      it('filters every scan by the tenant and writes it with every insert, across the whole flow', async () => {
        const texts = new Set(recorded.map((s) => s.sql));
        expect(texts.size).toBeGreaterThan(40);
        const tables = physicalTableNames(prefix);
        // The flow reached every table the tenancy rules cover.
        const unreached = tables.filter((t) => ![...texts].some((s) => s.includes(`"${t}"`)));
        expect(unreached).toEqual([]);
        const explained: string[] = [];
        const problems = await statementViolations(explainer, recorded, 'alpha', tables, explained);
        expect(problems).toEqual([]);
        if (process.env['TENANCY_DEBUG']) console.log(explained.join('\n---\n'));
        expect(explained.length).toBeGreaterThan(40);
        // Inserts, updates, deletes and reads alike were explained.
        for (const verb of ['insert', 'update', 'delete', 'select']) {
          expect(explained.some((s) => s.trimStart().toLowerCase().startsWith(verb))).toBe(true);
        }
      });

      it('locks every claimed batch in a CTE, never in an IN subquery a plan may rescan, and reports one that does', () => {
        const claims = [...new Set(recorded.map((s) => s.sql))].filter((s) => /skip locked/i.test(s));
        expect(claims.length).toBeGreaterThan(3);
        expect(lockedBatchViolations(recorded)).toEqual([]);
        const rogue = `update "${prefix}jobs" set "lease_owner" = $1 where "id" in (select "id" from "${prefix}jobs" where "tenant" = $2 and "next_run_at" <= $3 order by "next_run_at" limit $4 for update skip locked) returning *`;
        expect(lockedBatchViolations([{ sql: rogue, parameters: [] }])).toEqual([
          expect.stringMatching(/^locks a batch in an IN subquery/),
        ]);
      });

      if (prefix === 'mk_')
        it('reports an unscoped statement, another tenant’s, and an insert without the tenant', async () => {
          const sink: RecordedStatement[] = [];
          const db = new Kysely<unknown>({ dialect: recordingAdapter(database.adapter(), sink).dialect });
          try {
            await db.executeQuery(CompiledQuery.raw('select * from mk_orders where id = $1', ['ord-1']));
            await db.executeQuery(
              CompiledQuery.raw(`select * from mk_listings where tenant = 'beta' and id = $1`, ['x']),
            );
            await db.executeQuery(
              CompiledQuery.raw(
                `select e.* from mk_order_events e join mk_orders o on o.id = e.order_id where o.tenant = $1`,
                ['alpha'],
              ),
            );
            await db.executeQuery(
              CompiledQuery.raw(
                'insert into mk_leases (name, owner, token, expires_at, acquired_at) values ($1, $2, 1, 0, 0) on conflict do nothing',
                ['rogue', 'me'],
              ),
            );
            await db.executeQuery(CompiledQuery.raw('select 1'));
          } finally {
            await db.destroy();
          }
          const problems = await statementViolations(explainer, sink, 'alpha', physicalTableNames('mk_'));
          expect(problems).toEqual([
            expect.stringMatching(/ on mk_orders without a tenant condition: select \* from mk_orders/),
            expect.stringMatching(/on mk_listings filters by tenant 'beta'/),
            expect.stringMatching(/on mk_order_events without a tenant condition/),
            expect.stringMatching(/^insert into mk_leases without the tenant column/),
          ]);
        });
    });
  }
}

for (const backend of testBackends().filter((b) => b.name === 'sqlite')) {
  describe('tenancy statement rules on sqlite', () => {
    let database: TestDatabase;
    let receiver: TestReceiver & { url: string };
    const recorded: RecordedStatement[] = [];

    beforeAll(async () => {
      database = await backend.createDatabase();
      const setup = createMarketplace({ adapter: database.adapter() });
      await setup.migrate();
      await setup.close();
      const alpha = openTenantMarket(recordingAdapter(database.adapter(), recorded), 'alpha');
      receiver = await TestReceiver.start(alpha.clock);
      try {
        await runFlow(alpha, receiver.url);
      } finally {
        await alpha.market.close();
      }
    });
    afterAll(async () => {
      await receiver?.close();
      await database?.drop();
    });

    it('reaches every table by an index search on the tenant, and reports statements that do not', async () => {
      const db = new Kysely<unknown>({ dialect: database.adapter().dialect });
      try {
        const explained: string[] = [];
        expect(await sqliteStatementViolations(db, recorded, physicalTableNames('mk_'), explained)).toEqual([]);
        expect(explained.length).toBeGreaterThan(40);
        const rogue = [
          { sql: 'select * from mk_orders where id = ?', parameters: ['ord-1'] },
          {
            sql: 'select e.* from "mk_order_events" as "e" join mk_orders o on o.id = e.order_id where o.tenant = ? and o.id = ?',
            parameters: ['alpha', 'ord-1'],
          },
          { sql: 'select * from mk_listings where tenant = ? and id = ?', parameters: ['alpha', 'lst-lamp'] },
        ];
        expect(await sqliteStatementViolations(db, rogue, physicalTableNames('mk_'))).toEqual([
          expect.stringMatching(/^SCAN mk_orders \(mk_orders\) reads every tenant's rows/),
          expect.stringMatching(/^SCAN e \(mk_order_events\) reads every tenant's rows/),
        ]);
      } finally {
        await db.destroy();
      }
    });

    it('writes the tenant with every insert of the whole flow, and reports an insert without it', () => {
      const tables = physicalTableNames('mk_');
      const inserts = [...new Set(recorded.map((s) => s.sql))].filter((s) => /\binsert\b/i.test(s));
      expect(inserts.length).toBeGreaterThan(10);
      expect(insertViolations(recorded, tables)).toEqual([]);
      expect(
        insertViolations(
          [
            { sql: 'insert into "mk_leases" ("name", "owner") values (?, ?)', parameters: [] },
            { sql: 'insert or ignore into mk_jobs select * from mk_jobs', parameters: [] },
            { sql: 'insert into "mk_leases" ("tenant", "name") values (?, ?)', parameters: [] },
          ],
          tables,
        ),
      ).toEqual([
        expect.stringMatching(/^insert into mk_leases without the tenant column/),
        expect.stringMatching(/^insert into mk_jobs without a column list/),
      ]);
    });
  });
}
