import {
  type Account,
  type CreateTransferResult,
  createMarketplace,
  isMarketkitError,
  type Marketplace,
  type TransferInput,
} from '@marketkit/core';
import { checkLedgerInvariants, ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CountingAdapter, countingAdapter } from './fixtures/counting-adapter.js';

/**
 * Coalesced `createTransfers` equals serial `createTransfers`: random concurrent calls (plain, pending, post and void
 * transfers; duplicates, failures, linked chains, open chains, malformed calls; pending transfers due to expire) go
 * through a coalescing marketplace (tenant `co`) at random moments, and then the same calls go one at a time, in
 * the order the coalescer received them, through an uncoalesced one (tenant `se`) on the same database and clock.
 * Every call's results (or error code), every account's balances and transfers, and the outbox events must be the
 * same.
 */

const NUM_RUNS = propertyRuns(30);
/** Account slots a0…a4 (a4 is JPY); slot 5 names an account that is never created. */
const SLOTS = 6;
const ID_POOL = 12;

interface ItemSpec {
  readonly kind: 'plain' | 'pending' | 'post' | 'void';
  readonly id: number;
  readonly debit: number;
  readonly credit: number;
  readonly amount: bigint;
  readonly linked: boolean;
  readonly timeout: number;
  readonly pendingRef: number;
  readonly partial: boolean;
}

interface CallSpec {
  readonly items: readonly ItemSpec[];
  readonly malformed: boolean;
  /** 0: made at once; n: made after a timer of n-1 ms. */
  readonly delay: number;
}

const itemArb: fc.Arbitrary<ItemSpec> = fc.record({
  kind: fc.constantFrom('plain', 'plain', 'pending', 'post', 'void'),
  id: fc.nat(ID_POOL - 1),
  debit: fc.nat(SLOTS - 1),
  credit: fc.nat(SLOTS - 1),
  amount: fc.bigInt(0n, 400n),
  linked: fc.boolean(),
  timeout: fc.nat(3),
  pendingRef: fc.nat(ID_POOL + 2),
  partial: fc.boolean(),
});

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  items: fc.array(itemArb, { minLength: 1, maxLength: 4 }),
  malformed: fc.nat(9).map((n) => n < 2),
  delay: fc.nat(4),
});

const scenarioArb = fc.record({
  flags: fc.array(fc.constantFrom('none', 'debits', 'credits'), { minLength: SLOTS - 1, maxLength: SLOTS - 1 }),
  funding: fc.array(fc.bigInt(0n, 1000n), { minLength: SLOTS - 1, maxLength: SLOTS - 1 }),
  /** Timeouts of the seeded pending transfers s0…s2, and how far the clock moves after seeding. */
  seedTimeouts: fc.array(fc.nat(3), { minLength: 3, maxLength: 3 }),
  advanceMs: fc.nat(4000),
  calls: fc.array(callArb, { minLength: 2, maxLength: 10 }),
});

const accountId = (prefix: string, slot: number) => (slot < SLOTS - 1 ? `${prefix}a${slot}` : `${prefix}ax`);

function toTransfer(prefix: string, s: ItemSpec): TransferInput {
  const id = `${prefix}t${s.id}`;
  const flags = s.linked ? { linked: true } : {};
  const pendingId = s.pendingRef < 3 ? `${prefix}s${s.pendingRef}` : `${prefix}t${s.pendingRef - 3}`;
  if (s.kind === 'post' || s.kind === 'void') {
    const phase = s.kind === 'post' ? { postPending: true } : { voidPending: true };
    return { id, pendingId, flags: { ...flags, ...phase }, ...(s.partial ? { amount: s.amount } : {}) };
  }
  return {
    id,
    debitAccountId: accountId(prefix, s.debit),
    creditAccountId: accountId(prefix, s.credit),
    amount: s.amount,
    currency: 'USD',
    flags: { ...flags, ...(s.kind === 'pending' ? { pending: true } : {}) },
    ...(s.kind === 'pending' && s.timeout > 0 ? { timeoutSeconds: s.timeout } : {}),
  };
}

function toCall(prefix: string, c: CallSpec): TransferInput[] {
  const items = c.items.map((s) => toTransfer(prefix, s));
  return c.malformed ? [...items, { ...items[0]!, id: 'not valid' }] : items;
}

type Outcome = CreateTransferResult[] | string;
const outcome = (p: Promise<CreateTransferResult[]>): Promise<Outcome> =>
  p.catch((e: unknown) => (isMarketkitError(e) ? e.code : `non-Marketkit error: ${String(e)}`));

const balances = (a: Account) => [a.id, a.debitsPending, a.debitsPosted, a.creditsPending, a.creditsPosted];

for (const backend of testBackends()) {
  describe(`coalesced createTransfers equals serial on ${backend.name}`, () => {
    let database: TestDatabase;
    let counting: CountingAdapter;
    let co: Marketplace;
    let se: Marketplace;
    let raw: Kysely<unknown>;
    const clock = new ManualClock();
    let run = 0;
    let calls = 0;
    let transactions = 0;
    let eventsSeen = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      counting = countingAdapter(database.adapter({ max: 8 }));
      co = createMarketplace({ adapter: counting.adapter, clock, tenant: 'co', ledger: { coalesce: true } });
      se = createMarketplace({ adapter: database.adapter(), clock, tenant: 'se' });
      raw = new Kysely<unknown>({ dialect: database.adapter().dialect });
      await co.migrate();
    });
    /** The outbox events a tenant's run wrote, in aggregate order (what `transfer.created` consumers see). */
    const outboxOf = async (tenant: string, prefix: string) => {
      const { rows } = await sql<Record<string, unknown>>`
        select aggregate_type, aggregate_id, seq, type, payload from mk_outbox_events
        where tenant = ${tenant} and aggregate_id like ${`${prefix}%`} order by aggregate_id, seq`.execute(raw);
      return rows.map((r) => ({ ...r, seq: String(r['seq']) }));
    };

    afterAll(async () => {
      await raw?.destroy();
      await co?.close();
      await se?.close();
      await database?.drop();
    });

    it('gives every call the results, and every account the balances, of running the calls serially', async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (sc) => {
          const prefix = `r${run++}.`;
          const setup = async (m: Marketplace) => {
            await m.ledger.createAccounts([
              { id: `${prefix}src`, currency: 'USD', code: 1 },
              ...sc.flags.map((f, slot) => ({
                id: accountId(prefix, slot),
                currency: slot === SLOTS - 2 ? 'JPY' : 'USD',
                code: 2,
                flags: { debitsMustNotExceedCredits: f === 'debits', creditsMustNotExceedDebits: f === 'credits' },
              })),
            ]);
            const fund = sc.funding.map((amount, slot) => ({
              id: `${prefix}f${slot}`,
              debitAccountId: `${prefix}src`,
              creditAccountId: accountId(prefix, slot),
              amount,
              currency: slot === SLOTS - 2 ? 'JPY' : 'USD',
            }));
            const seeds = sc.seedTimeouts.map((timeout, i) => ({
              id: `${prefix}s${i}`,
              debitAccountId: `${prefix}src`,
              creditAccountId: accountId(prefix, i),
              amount: 50n,
              currency: 'USD',
              flags: { pending: true },
              ...(timeout > 0 ? { timeoutSeconds: timeout } : {}),
            }));
            await m.ledger.createTransfers([...fund, ...seeds]);
          };
          await setup(co);
          await setup(se);
          clock.advance(sc.advanceMs);

          // Coalesced, concurrently; the arrival order is the order createTransfers was called in.
          const order: number[] = [];
          const inputs = sc.calls.map((c) => toCall(prefix, c));
          const before = counting.transactions();
          const coOut = await Promise.all(
            sc.calls.map(async (c, i) => {
              if (c.delay > 0) await new Promise((r) => setTimeout(r, c.delay - 1));
              order.push(i);
              return outcome(co.ledger.createTransfers(inputs[i]!));
            }),
          );
          transactions += counting.transactions() - before;
          calls += sc.calls.length;

          // Serially, in that order.
          const seOut: Outcome[] = new Array(sc.calls.length);
          for (const i of order) seOut[i] = await outcome(se.ledger.createTransfers(inputs[i]!));
          expect(coOut, `order ${order.join(',')}`).toEqual(seOut);

          const ids = [`${prefix}src`, ...Array.from({ length: SLOTS }, (_, s) => accountId(prefix, s))];
          expect((await co.ledger.getAccounts(ids)).map(balances)).toEqual(
            (await se.ledger.getAccounts(ids)).map(balances),
          );
          for (const accountId of ids) {
            const [a, b] = await Promise.all([
              co.ledger.listTransfers({ accountId, limit: 1000 }),
              se.ledger.listTransfers({ accountId, limit: 1000 }),
            ]);
            expect(a.transfers).toEqual(b.transfers);
          }
          const events = await outboxOf('co', prefix);
          eventsSeen += events.length;
          expect(events).toEqual(await outboxOf('se', prefix));
        }),
        { numRuns: NUM_RUNS },
      );
      await checkLedgerInvariants(co);
      expect(eventsSeen).toBeGreaterThan(0); // the outbox comparison compared something
      // The property ran through real coalescing: fewer transactions than calls (calls made at once share one; on
      // SQLite a transaction is often done before a timer-delayed call arrives, so not far fewer).
      expect(transactions).toBeLessThan(calls * (backend.name === 'postgres' ? 0.75 : 0.95));
    });
  });
}
