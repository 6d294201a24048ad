import {
  type Account,
  type AccountFlags,
  type AccountInput,
  createMarketplace,
  type ListAccountsInput,
  type Marketplace,
  type QueryTransfersInput,
  type Transfer,
  type TransferInput,
} from '@marketkit/core';
import { ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerModel, type ModelAccount, type StoredTransfer } from './ledger-model.js';

/**
 * The ledger's queries against the in-memory model of ./ledger-model.ts, over random histories: transfers (regular,
 * two-phase with and without timeouts, posts, voids, linked chains, refused ones), clock moves (often none, so that
 * transfers share timestamps) and expiry sweeps. Each run has a tenant of its own, so that queries without an
 * account see exactly the run's transfers. Then:
 * - every page of `queryTransfers` and `listAccounts`, in both orders and at random page sizes, concatenated, equals
 *   the model's list filtered and sorted independently;
 * - `getAccountBalance` at random instants equals the model's balances replayed up to that instant.
 */

const NUM_RUNS = propertyRuns(30);

type Currency = 'USD' | 'JPY';

interface AccountSpec {
  readonly id: string;
  readonly currency: Currency;
  readonly code: number;
  readonly flags: 'none' | 'dr' | 'cr';
}

interface NewOp {
  readonly kind: 'new';
  /** Two accounts of one currency (else any two, often refused). */
  readonly valid: boolean;
  readonly dr: number;
  readonly cr: number;
  readonly amount: bigint;
  readonly pending: boolean;
  readonly timeout: number;
  readonly code: number | undefined;
  readonly linked: boolean;
}

interface ResolveOp {
  readonly kind: 'resolve';
  /** A transfer still pending, if any (else any two-phase transfer, often refused). */
  readonly active: boolean;
  readonly post: boolean;
  readonly pick: number;
  readonly partial: boolean;
  readonly code: number | undefined;
  readonly linked: boolean;
}

type Step =
  | { readonly kind: 'batch'; readonly items: readonly (NewOp | ResolveOp)[] }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'expire' };

/** Ids whose prefixes overlap (`acc-1`, `acc-10`) and whose byte order differs from their numeric order. */
const ACCOUNT_IDS = ['acc-1', 'acc-10', 'acc-2', 'acc_3', 'b-1', 'b-10', 'B-2', 'c'];

const accountsArb: fc.Arbitrary<AccountSpec[]> = fc.uniqueArray(
  fc.record({
    id: fc.constantFrom(...ACCOUNT_IDS),
    currency: fc.constantFrom<Currency>('USD', 'USD', 'USD', 'JPY'),
    code: fc.integer({ min: 1, max: 3 }),
    flags: fc.constantFrom<AccountSpec['flags']>('none', 'none', 'none', 'dr', 'cr'),
  }),
  { minLength: 3, maxLength: ACCOUNT_IDS.length, selector: (a) => a.id },
);

const codeArb = fc.constantFrom(undefined, 0, 1, 2);
const linkedArb = fc.constantFrom(false, false, false, true);

const itemArb: fc.Arbitrary<NewOp | ResolveOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('new' as const),
      valid: fc.constantFrom(true, true, true, true, true, false),
      dr: fc.nat(),
      cr: fc.nat(),
      amount: fc.bigInt({ min: 1n, max: 50n }),
      pending: fc.boolean(),
      timeout: fc.constantFrom(0, 0, 1, 2),
      code: codeArb,
      linked: linkedArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('resolve' as const),
      active: fc.constantFrom(true, true, true, false),
      post: fc.boolean(),
      pick: fc.nat(),
      partial: fc.boolean(),
      code: codeArb,
      linked: linkedArb,
    }),
  },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      items: fc.array(itemArb, { minLength: 1, maxLength: 5 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 1, 7, 1000, 1500, 2500) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
);

/** Queries drawn at random: each field present or not, the account one of the run's (or one it does not have). */
interface QuerySpec {
  readonly account: number | undefined;
  readonly side: 'debit' | 'credit' | 'either' | undefined;
  readonly from: number | undefined;
  readonly to: number | undefined;
  readonly code: number | undefined;
  readonly pendingStatus: 'pending' | 'posted' | 'voided' | 'expired' | undefined;
  readonly limit: number;
}

/** Absent two times in three: a query with every filter would mostly match nothing. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const querySpecArb: fc.Arbitrary<QuerySpec> = fc.record({
  account: sometimes(fc.nat({ max: ACCOUNT_IDS.length })),
  side: fc.constantFrom(undefined, 'debit' as const, 'credit' as const, 'either' as const),
  from: sometimes(fc.nat({ max: 6000 })),
  to: sometimes(fc.nat({ max: 12_000 })),
  code: sometimes(fc.nat({ max: 2 })),
  pendingStatus: sometimes(
    fc.constantFrom('pending' as const, 'posted' as const, 'voided' as const, 'expired' as const),
  ),
  limit: fc.integer({ min: 1, max: 6 }),
});

interface AccountQuerySpec {
  readonly code: number | undefined;
  readonly currency: Currency | undefined;
  readonly flags: AccountFlags | undefined;
  readonly idPrefix: string | undefined;
  readonly limit: number;
}

const accountQueryArb: fc.Arbitrary<AccountQuerySpec> = fc.record({
  code: sometimes(fc.integer({ min: 1, max: 3 })),
  currency: sometimes(fc.constantFrom<Currency>('USD', 'JPY')),
  flags: sometimes(
    fc.record(
      { debitsMustNotExceedCredits: fc.boolean(), creditsMustNotExceedDebits: fc.boolean() },
      { requiredKeys: [] },
    ),
  ),
  idPrefix: fc.constantFrom(undefined, 'acc', 'acc-1', 'ACC', 'b-', 'B', 'c', 'acc_', 'zz'),
  limit: fc.integer({ min: 1, max: 4 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  accounts: accountsArb,
  steps: fc.array(stepArb, { minLength: 8, maxLength: 30, size: 'max' }),
  queries: fc.array(querySpecArb, { minLength: 4, maxLength: 8 }),
  accountQueries: fc.array(accountQueryArb, { minLength: 2, maxLength: 5 }),
  instants: fc.array(fc.nat({ max: 12_000 }), { minLength: 2, maxLength: 6 }),
});

interface Scenario {
  readonly accounts: readonly AccountSpec[];
  readonly steps: readonly Step[];
  readonly queries: readonly QuerySpec[];
  readonly accountQueries: readonly AccountQuerySpec[];
  readonly instants: readonly number[];
}

function accountInput(a: AccountSpec): AccountInput {
  const flags =
    a.flags === 'dr'
      ? { flags: { debitsMustNotExceedCredits: true } }
      : a.flags === 'cr'
        ? { flags: { creditsMustNotExceedDebits: true } }
        : {};
  return { id: a.id, currency: a.currency, code: a.code, ...flags };
}

/** A transfer input from an abstract item, against the model as it stands (ids numbered in the run). */
function transferInput(item: NewOp | ResolveOp, model: LedgerModel, accounts: readonly AccountSpec[], id: string) {
  const t: { -readonly [K in keyof TransferInput]: TransferInput[K] } = { id };
  if (item.kind === 'new') {
    const dr = accounts[item.dr % accounts.length]!;
    const partners = item.valid ? accounts.filter((a) => a.currency === dr.currency && a.id !== dr.id) : accounts;
    const cr = partners[item.cr % Math.max(1, partners.length)] ?? dr;
    Object.assign(t, { debitAccountId: dr.id, creditAccountId: cr.id, amount: item.amount, currency: dr.currency });
    if (item.pending) t.flags = { pending: true };
    if (item.pending && item.timeout > 0) t.timeoutSeconds = item.timeout;
  } else {
    const all = [...model.pendings.values()];
    const active = all.filter((p) => p.status === 'pending');
    const pendings = item.active && active.length > 0 ? active : all;
    const target = pendings[item.pick % Math.max(1, pendings.length)];
    t.pendingId = target?.id ?? 'missing';
    t.flags = item.post ? { postPending: true } : { voidPending: true };
    if (item.post && item.partial && target !== undefined && target.amount > 1n) t.amount = target.amount / 2n;
  }
  if (item.code !== undefined) t.code = item.code;
  if (item.linked) t.flags = { ...t.flags, linked: true };
  return t as TransferInput;
}

type Balances = Pick<ModelAccount, 'debitsPending' | 'debitsPosted' | 'creditsPending' | 'creditsPosted'>;

/** The model's balances after each step, at the clock reading of that step. */
interface BalanceSnapshot {
  readonly at: number;
  readonly balances: ReadonlyMap<string, Balances>;
}

function snapshot(model: LedgerModel, at: number): BalanceSnapshot {
  const balances = new Map<string, Balances>();
  for (const a of model.accounts.values()) {
    const { debitsPending, debitsPosted, creditsPending, creditsPosted } = a;
    balances.set(a.id, { debitsPending, debitsPosted, creditsPending, creditsPosted });
  }
  return { at, balances };
}

/** What the replay says an account held at `at`: the last snapshot taken at or before it, else nothing yet. */
function replayedBalance(snapshots: readonly BalanceSnapshot[], id: string, at: number): Balances {
  const zero = { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
  let found: Balances = zero;
  for (const s of snapshots) if (s.at <= at) found = s.balances.get(id) ?? zero;
  return found;
}

function asTransfer(s: StoredTransfer): Transfer {
  return {
    id: s.id,
    debitAccountId: s.debitAccountId,
    creditAccountId: s.creditAccountId,
    amount: s.amount,
    currency: s.currency,
    code: s.code,
    reference: s.reference,
    userData: s.userData,
    flags: { linked: s.flags.linked, pending: s.flags.pending, postPending: s.flags.post, voidPending: s.flags.void },
    pendingId: s.pendingId,
    timeoutSeconds: s.timeoutSeconds,
    createdAt: s.createdAt,
  };
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The model's answer to a transfer query: filtered and sorted here, by (createdAt, id) in byte order. */
function expectedTransfers(model: LedgerModel, q: QueryTransfersInput): Transfer[] {
  const side = q.side ?? 'either';
  const matches = model.stored.filter((t) => {
    if (q.accountId !== undefined) {
      const dr = t.debitAccountId === q.accountId;
      const cr = t.creditAccountId === q.accountId;
      if (side === 'debit' ? !dr : side === 'credit' ? !cr : !dr && !cr) return false;
    }
    if (q.from !== undefined && t.createdAt < q.from) return false;
    if (q.to !== undefined && t.createdAt >= q.to) return false;
    if (q.code !== undefined && t.code !== q.code) return false;
    if (q.pendingStatus !== undefined && (!t.flags.pending || model.pendings.get(t.id)?.status !== q.pendingStatus)) {
      return false;
    }
    return true;
  });
  const sorted = matches.sort((a, b) => a.createdAt - b.createdAt || byteOrder(a.id, b.id)).map(asTransfer);
  return q.order === 'oldest' ? sorted : sorted.reverse();
}

function expectedAccounts(model: LedgerModel, q: ListAccountsInput): string[] {
  return [...model.accounts.values()]
    .filter(
      (a) =>
        (q.code === undefined || a.code === q.code) &&
        (q.currency === undefined || a.currency === q.currency) &&
        (q.flags?.debitsMustNotExceedCredits === undefined ||
          a.debitsMustNotExceedCredits === q.flags.debitsMustNotExceedCredits) &&
        (q.flags?.creditsMustNotExceedDebits === undefined ||
          a.creditsMustNotExceedDebits === q.flags.creditsMustNotExceedDebits) &&
        (q.idPrefix === undefined || a.id.startsWith(q.idPrefix)),
    )
    .map((a) => a.id)
    .sort(byteOrder);
}

async function allTransferPages(market: Marketplace, q: QueryTransfersInput): Promise<Transfer[]> {
  const out: Transfer[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 500; pages++) {
    const page = await market.ledger.queryTransfers(cursor === undefined ? q : { ...q, cursor });
    expect(page.transfers.length).toBeLessThanOrEqual(q.limit ?? 50);
    out.push(...page.transfers);
    cursor = page.nextCursor;
    if (cursor === undefined) return out;
    expect(page.transfers.length, 'a page with a next cursor is full').toBe(q.limit);
  }
  throw new Error('more than 500 pages');
}

async function allAccountPages(market: Marketplace, q: ListAccountsInput): Promise<Account[]> {
  const out: Account[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await market.ledger.listAccounts(cursor === undefined ? q : { ...q, cursor });
    out.push(...page.accounts);
    cursor = page.nextCursor;
    if (cursor === undefined) return out;
    expect(page.accounts.length, 'a page with a next cursor is full').toBe(q.limit);
  }
  throw new Error('more than 100 pages');
}

function transferQuery(spec: QuerySpec, accounts: readonly AccountSpec[], order: 'newest' | 'oldest') {
  const accountId = spec.account === undefined ? undefined : (accounts[spec.account]?.id ?? 'nobody');
  const q: { -readonly [K in keyof QueryTransfersInput]: QueryTransfersInput[K] } = { order, limit: spec.limit };
  if (accountId !== undefined) q.accountId = accountId;
  if (accountId !== undefined && spec.side !== undefined) q.side = spec.side;
  if (spec.from !== undefined) q.from = spec.from;
  if (spec.to !== undefined) q.to = spec.to;
  if (spec.code !== undefined) q.code = spec.code;
  if (spec.pendingStatus !== undefined) q.pendingStatus = spec.pendingStatus;
  return q as QueryTransfersInput;
}

function accountQuery(spec: AccountQuerySpec): ListAccountsInput {
  return {
    limit: spec.limit,
    ...(spec.code === undefined ? {} : { code: spec.code }),
    ...(spec.currency === undefined ? {} : { currency: spec.currency }),
    ...(spec.flags === undefined ? {} : { flags: spec.flags }),
    ...(spec.idPrefix === undefined ? {} : { idPrefix: spec.idPrefix }),
  };
}

for (const backend of testBackends()) {
  describe(`ledger queries on ${backend.name}`, () => {
    let database: TestDatabase;
    let runs = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      const market = createMarketplace({ adapter: database.adapter() });
      await market.migrate();
      await market.close();
    });
    afterAll(async () => {
      await database?.drop();
    });

    /** Plays the scenario's history on a fresh tenant and on the model; returns both and the model's snapshots. */
    async function play(market: Marketplace, clock: ManualClock, s: Scenario) {
      const model = new LedgerModel();
      const inputs = s.accounts.map(accountInput);
      expect((await market.ledger.createAccounts(inputs)).map((r) => r.result)).toEqual(model.createAccounts(inputs));
      const snapshots: BalanceSnapshot[] = [snapshot(model, clock.now())];
      let next = 0;
      for (const step of s.steps) {
        if (step.kind === 'advance') clock.advance(step.ms);
        else if (step.kind === 'expire') {
          expect(await market.ledger.expirePendingTransfers()).toBe(model.expireDue(clock.now()));
        } else {
          const batch = step.items.map((item) =>
            transferInput(item, model, s.accounts, `t${String(next++).padStart(3, '0')}`),
          );
          const expected = model.createTransfers(batch, clock.now());
          expect((await market.ledger.createTransfers(batch)).map((r) => r.result)).toEqual(expected);
        }
        snapshots.push(snapshot(model, clock.now()));
      }
      return { model, snapshots };
    }

    it('returns every matching transfer and account exactly once, in order, across all pages, both ways', async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (s) => {
          const clock = new ManualClock(0);
          const market = createMarketplace({ adapter: database.adapter(), clock, tenant: `q${runs++}` });
          try {
            const { model } = await play(market, clock, s);
            for (const spec of s.queries) {
              for (const order of ['newest', 'oldest'] as const) {
                const q = transferQuery(spec, s.accounts, order);
                expect(await allTransferPages(market, q), JSON.stringify(q)).toEqual(expectedTransfers(model, q));
              }
            }
            for (const spec of s.accountQueries) {
              const q = accountQuery(spec);
              const got = await allAccountPages(market, q);
              expect(
                got.map((a) => a.id),
                JSON.stringify(q),
              ).toEqual(expectedAccounts(model, q));
              expect(got).toEqual(await market.ledger.getAccounts(got.map((a) => a.id)));
            }
          } finally {
            await market.close();
          }
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it('gives at every instant the balances the model held then, posted and pending, debits and credits', async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (s) => {
          const clock = new ManualClock(0);
          const market = createMarketplace({ adapter: database.adapter(), clock, tenant: `b${runs++}` });
          try {
            const { snapshots } = await play(market, clock, s);
            const stepTimes = snapshots.flatMap((x) => [x.at - 1, x.at]).filter((t) => t >= 0);
            for (const at of [...new Set([...s.instants, ...stepTimes, clock.now()])]) {
              for (const a of s.accounts) {
                const got = await market.ledger.getAccountBalance({ accountId: a.id, at });
                expect(got, `${a.id} at ${at}`).toEqual({
                  accountId: a.id,
                  at,
                  ...replayedBalance(snapshots, a.id, at),
                });
              }
            }
            for (const a of await market.ledger.getAccounts(s.accounts.map((x) => x.id))) {
              const now = await market.ledger.getAccountBalance({ accountId: a.id, at: clock.now() });
              const { debitsPending, debitsPosted, creditsPending, creditsPosted } = a;
              expect(now).toEqual({
                accountId: a.id,
                at: clock.now(),
                debitsPending,
                debitsPosted,
                creditsPending,
                creditsPosted,
              });
            }
            expect(await market.ledger.getAccountBalance({ accountId: 'nobody', at: clock.now() })).toBeUndefined();
          } finally {
            await market.close();
          }
        }),
        { numRuns: NUM_RUNS },
      );
    });
  });
}
