import {
  type Account,
  type AccountInput,
  createMarketplace,
  type Marketplace,
  type TransferInput,
} from '@marketkit/core';
import { ManualClock, propertyRuns, type TestDatabase, testBackends } from '@marketkit/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerModel } from './ledger-model.js';

/**
 * Model-based test of the ledger: random sequences of account batches, transfer batches (regular, two-phase,
 * linked, duplicated, malformed), clock moves and expiry runs, each checked result by result against the
 * in-memory model in ./ledger-model.ts, with the ledger's invariants asserted after every command.
 * Each fast-check run uses its own id prefix, so one database per backend serves every run.
 */

const NUM_RUNS = propertyRuns(100);
const MAX_COMMANDS = 25;
const MAX_INT64 = 2n ** 63n - 1n;
/** Account slots a0…a7; slot 8 names an account that is never created. */
const SLOTS = 8;
/** Longer than any timeout used, so that the leftovers of earlier runs can be expired before a run. */
const FLUSH_MS = 1_000_000;

interface RunModel {
  readonly ledger: LedgerModel;
  readonly prefix: string;
  now: number;
  nextId: number;
  /** What this run sent, in order, for failure reports. */
  readonly log: string[];
}

interface RunReal {
  readonly market: Marketplace;
  readonly clock: ManualClock;
}

type LedgerCommand = fc.AsyncCommand<RunModel, RunReal>;
type Draft = { -readonly [K in keyof TransferInput]: TransferInput[K] };
type Repr = 'bigint' | 'number' | 'string' | 'padded';
type Currency = 'USD' | 'JPY';

const accountId = (m: RunModel, slot: number) => (slot < SLOTS ? `${m.prefix}a${slot}` : `${m.prefix}ax`);
const slotIds = (m: RunModel) => Array.from({ length: SLOTS + 1 }, (_, slot) => accountId(m, slot));
const freshId = (m: RunModel) => `${m.prefix}t${String(m.nextId++).padStart(4, '0')}`;

function withRepr(amount: bigint, repr: Repr): bigint | number | string {
  if (repr === 'string') return amount.toString();
  if (repr === 'padded') return amount.toString().padStart(19, '0');
  if (repr === 'number' && amount <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(amount);
  return amount;
}

// ---------------------------------------------------------------------------------------------------------------
// Accounts

type AccountFlagsSpec = 'none' | 'explicitNone' | 'dr' | 'cr' | 'both';
type AccountSpec =
  | {
      readonly kind: 'new';
      readonly slot: number;
      readonly currency: Currency;
      readonly code: number;
      readonly flags: AccountFlagsSpec;
      readonly ownerId: string | undefined;
      readonly userData: string | undefined;
    }
  | { readonly kind: 'same'; readonly pick: number };

function accountInput(id: string, currency: Currency, code: number, flags: AccountFlagsSpec): AccountInput {
  const f = {
    none: undefined,
    explicitNone: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false },
    dr: { debitsMustNotExceedCredits: true },
    cr: { creditsMustNotExceedDebits: true },
    both: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true },
  }[flags];
  return f === undefined ? { id, currency, code } : { id, currency, code, flags: f };
}

function resolveAccounts(m: RunModel, specs: readonly AccountSpec[]): AccountInput[] {
  const existing = [...m.ledger.accounts.keys()];
  return specs.map((s) => {
    if (s.kind === 'same') {
      const id = existing[s.pick % existing.length];
      return (
        (id === undefined ? undefined : m.ledger.accountInput(id)) ?? accountInput(accountId(m, 7), 'USD', 1, 'dr')
      );
    }
    const base = accountInput(accountId(m, s.slot), s.currency, s.code, s.flags);
    return {
      ...base,
      ...(s.ownerId === undefined ? {} : { ownerId: s.ownerId }),
      ...(s.userData === undefined ? {} : { userData: s.userData }),
    };
  });
}

const currencyArb = fc.constantFrom<Currency>('USD', 'JPY');
const accountSpecArb: fc.Arbitrary<AccountSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('new' as const),
      slot: fc.nat({ max: SLOTS - 1 }),
      currency: currencyArb,
      code: fc.integer({ min: 1, max: 3 }),
      flags: fc.constantFrom<AccountFlagsSpec>('none', 'explicitNone', 'dr', 'dr', 'cr', 'both'),
      ownerId: fc.constantFrom(undefined, undefined, 'o1', 'o2'),
      userData: fc.constantFrom(undefined, undefined, 'u1'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('same' as const), pick: fc.nat() }) },
);

/** Every run starts with a funding account, flagged accounts and a second currency. */
function baselineAccounts(m: RunModel): AccountInput[] {
  return [
    accountInput(accountId(m, 0), 'USD', 1, 'none'),
    accountInput(accountId(m, 1), 'USD', 2, 'dr'),
    accountInput(accountId(m, 2), 'USD', 3, 'cr'),
    accountInput(accountId(m, 3), 'JPY', 1, 'none'),
    accountInput(accountId(m, 4), 'JPY', 2, 'dr'),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Transfers: abstract specs, resolved against the model when the command runs

interface NewSpec {
  readonly kind: 'new';
  /** `valid`: two distinct existing accounts of one currency (when there are); `random`: any slots. */
  readonly pairing: 'valid' | 'random';
  readonly dr: number;
  readonly cr: number;
  readonly currency: 'auto' | Currency;
  readonly amount: bigint;
  readonly repr: Repr;
  readonly pending: boolean;
  readonly timeout: number;
  readonly code: number | undefined;
  readonly reference: string | undefined;
  readonly linked: boolean;
}

type Defect =
  | 'noDebit'
  | 'noCredit'
  | 'noAmount'
  | 'noCurrency'
  | 'sameAccounts'
  | 'pendingIdOnRegular'
  | 'timeoutOnRegular'
  | 'twoPhases'
  | 'noPendingId';

interface MalformedSpec {
  readonly kind: 'malformed';
  readonly base: NewSpec;
  readonly defect: Defect;
  readonly pick: number;
}

interface ResolveSpec {
  readonly kind: 'resolve';
  readonly op: 'post' | 'void';
  /** `active`: a pending transfer still pending (if any); `pending`: any two-phase transfer, whatever its status. */
  readonly target: 'active' | 'pending' | 'unknown' | 'regular' | 'self';
  readonly pick: number;
  readonly amount: 'omit' | 'less' | 'equal' | 'more' | 'zero';
  readonly fields: 'none' | 'matching' | 'wrongDebit' | 'wrongCredit' | 'wrongCurrency';
  readonly timeout: number;
  readonly code: number | undefined;
  readonly linked: boolean;
}

type Change = 'none' | 'amount' | 'repr' | 'code' | 'reference' | 'userData' | 'linked' | 'debit' | 'timeout';

interface DupSpec {
  readonly kind: 'dup';
  readonly from: 'committed' | 'batch';
  readonly pick: number;
  readonly change: Change;
}

type TransferSpec = NewSpec | MalformedSpec | ResolveSpec | DupSpec;

const linkedArb = fc.constantFrom(false, false, false, false, false, true);
const codeArb = fc.constantFrom(undefined, undefined, 0, 7);
const amountArb = fc.oneof(
  { weight: 16, arbitrary: fc.bigInt({ min: 1n, max: 60n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 61n, max: 5000n }) },
  { weight: 2, arbitrary: fc.constantFrom(10n ** 18n, 2n ** 62n, MAX_INT64) },
  { weight: 1, arbitrary: fc.constant(0n) },
);

const newSpecArb: fc.Arbitrary<NewSpec> = fc.record({
  kind: fc.constant('new' as const),
  pairing: fc.constantFrom<NewSpec['pairing']>('valid', 'valid', 'valid', 'random'),
  dr: fc.nat({ max: SLOTS }),
  cr: fc.nat({ max: SLOTS }),
  currency: fc.constantFrom<NewSpec['currency']>('auto', 'auto', 'auto', 'auto', 'USD', 'JPY'),
  amount: amountArb,
  repr: fc.constantFrom<Repr>('bigint', 'bigint', 'bigint', 'number', 'string', 'padded'),
  pending: fc.boolean(),
  timeout: fc.constantFrom(0, 0, 1, 2, 5, 60),
  code: codeArb,
  reference: fc.constantFrom(undefined, undefined, 'order-1'),
  linked: linkedArb,
});

const transferSpecArb: fc.Arbitrary<TransferSpec> = fc.oneof(
  { weight: 6, arbitrary: newSpecArb },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('resolve' as const),
      op: fc.constantFrom('post' as const, 'void' as const),
      target: fc.oneof(
        { weight: 6, arbitrary: fc.constant('active' as const) },
        { weight: 3, arbitrary: fc.constant('pending' as const) },
        { weight: 1, arbitrary: fc.constantFrom('unknown' as const, 'regular' as const, 'self' as const) },
      ),
      pick: fc.nat(),
      amount: fc.constantFrom<ResolveSpec['amount']>('omit', 'omit', 'less', 'equal', 'more', 'zero'),
      fields: fc.constantFrom<ResolveSpec['fields']>(
        'none',
        'none',
        'matching',
        'wrongDebit',
        'wrongCredit',
        'wrongCurrency',
      ),
      timeout: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(5) }),
      code: codeArb,
      linked: linkedArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('dup' as const),
      from: fc.constantFrom('committed' as const, 'committed' as const, 'batch' as const),
      pick: fc.nat(),
      change: fc.constantFrom<Change>(
        'none',
        'none',
        'none',
        'amount',
        'repr',
        'code',
        'reference',
        'userData',
        'linked',
        'debit',
        'timeout',
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('malformed' as const),
      base: newSpecArb,
      defect: fc.constantFrom<Defect>(
        'noDebit',
        'noCredit',
        'noAmount',
        'noCurrency',
        'sameAccounts',
        'pendingIdOnRegular',
        'timeoutOnRegular',
        'twoPhases',
        'noPendingId',
      ),
      pick: fc.nat(),
    }),
  },
);

/** A pending transfer a post or void may name: in the model, or created earlier in the same batch. */
interface Target {
  readonly id: string;
  readonly amount: bigint;
  readonly debitAccountId: string | undefined;
  readonly creditAccountId: string | undefined;
  readonly currency: string | undefined;
}

function targetOf(t: TransferInput): Target {
  return {
    id: t.id,
    amount: BigInt(t.amount ?? 1n),
    debitAccountId: t.debitAccountId,
    creditAccountId: t.creditAccountId,
    currency: t.currency,
  };
}

function pendingTargets(m: RunModel, batch: readonly TransferInput[]): Target[] {
  const fromModel = [...m.ledger.pendings.values()];
  const fromBatch = batch.filter((t) => t.flags?.pending === true && !m.ledger.isTransfer(t.id)).map(targetOf);
  return [...fromModel, ...fromBatch];
}

function validPair(m: RunModel, s: NewSpec): [string, string] | undefined {
  const accounts = [...m.ledger.accounts.values()];
  const dr = accounts[s.dr % accounts.length];
  const partners = accounts.filter((a) => a.currency === dr?.currency && a.id !== dr.id);
  const cr = partners[s.cr % partners.length];
  return dr === undefined || cr === undefined ? undefined : [dr.id, cr.id];
}

function resolveNew(m: RunModel, s: NewSpec): Draft {
  const [dr, cr] = (s.pairing === 'valid' ? validPair(m, s) : undefined) ?? [accountId(m, s.dr), accountId(m, s.cr)];
  const currency =
    s.currency === 'auto' ? ((m.ledger.accounts.get(dr) ?? m.ledger.accounts.get(cr))?.currency ?? 'USD') : s.currency;
  const t: Draft = {
    id: freshId(m),
    debitAccountId: dr,
    creditAccountId: cr,
    amount: withRepr(s.amount, s.repr),
    currency,
  };
  if (s.code !== undefined) t.code = s.code;
  if (s.reference !== undefined) t.reference = s.reference;
  if (s.pending || s.linked)
    t.flags = { ...(s.pending ? { pending: true } : {}), ...(s.linked ? { linked: true } : {}) };
  if (s.pending && s.timeout > 0) t.timeoutSeconds = s.timeout;
  return t;
}

function resolveMalformed(m: RunModel, s: MalformedSpec, batch: readonly TransferInput[]): Draft {
  const t = resolveNew(m, { ...s.base, pending: false });
  switch (s.defect) {
    case 'noDebit':
      delete t.debitAccountId;
      break;
    case 'noCredit':
      delete t.creditAccountId;
      break;
    case 'noAmount':
      delete t.amount;
      break;
    case 'noCurrency':
      delete t.currency;
      break;
    case 'sameAccounts':
      t.creditAccountId = accountId(m, s.base.dr);
      break;
    case 'pendingIdOnRegular': {
      const targets = pendingTargets(m, batch);
      t.pendingId = targets[s.pick % targets.length]?.id ?? `${m.prefix}u0`;
      break;
    }
    case 'timeoutOnRegular':
      t.timeoutSeconds = 5;
      break;
    case 'twoPhases':
      t.flags = { ...t.flags, pending: true, voidPending: true };
      break;
    case 'noPendingId':
      t.flags = { ...t.flags, postPending: true };
      break;
  }
  return t;
}

function resolvePending(m: RunModel, s: ResolveSpec, batch: readonly TransferInput[]): Draft {
  const id = freshId(m);
  const unknown: Target = {
    id: `${m.prefix}u${s.pick % 3}`,
    amount: 5n,
    debitAccountId: undefined,
    creditAccountId: undefined,
    currency: undefined,
  };
  let target = unknown;
  if (s.target === 'pending' || s.target === 'active') {
    const targets = pendingTargets(m, batch);
    const active = targets.filter((p) => (m.ledger.pendings.get(p.id)?.status ?? 'pending') === 'pending');
    const pool = s.target === 'active' && active.length > 0 ? active : targets;
    target = pool[s.pick % pool.length] ?? unknown;
  } else if (s.target === 'regular') {
    const regular = m.ledger.committed.filter((t) => t.flags?.pending !== true);
    const r = regular[s.pick % regular.length];
    if (r !== undefined) target = targetOf(r);
  } else if (s.target === 'self') {
    target = { ...unknown, id };
  }
  const t: Draft = { id, pendingId: target.id, flags: s.op === 'post' ? { postPending: true } : { voidPending: true } };
  if (s.linked) t.flags = { ...t.flags, linked: true };
  const amounts = {
    omit: undefined,
    less: target.amount > 1n ? target.amount / 2n : 1n,
    equal: target.amount,
    more: target.amount < MAX_INT64 ? target.amount + 1n : MAX_INT64,
    zero: 0n,
  };
  const amount = amounts[s.amount];
  if (amount !== undefined) t.amount = amount;
  const other = (a: string | undefined) => (a === accountId(m, 0) ? accountId(m, 1) : accountId(m, 0));
  if (s.fields === 'matching' || s.fields === 'wrongDebit') {
    t.debitAccountId =
      s.fields === 'matching' ? (target.debitAccountId ?? other(undefined)) : other(target.debitAccountId);
  }
  if (s.fields === 'matching' || s.fields === 'wrongCredit') {
    t.creditAccountId =
      s.fields === 'matching' ? (target.creditAccountId ?? other(undefined)) : other(target.creditAccountId);
  }
  if (s.fields === 'matching') t.currency = target.currency ?? 'USD';
  if (s.fields === 'wrongCurrency') t.currency = target.currency === 'USD' ? 'JPY' : 'USD';
  if (s.timeout > 0) t.timeoutSeconds = s.timeout;
  if (s.code !== undefined) t.code = s.code;
  return t;
}

function resolveDup(m: RunModel, s: DupSpec, batch: readonly TransferInput[]): Draft | undefined {
  const committed = m.ledger.committed;
  const source =
    (s.from === 'batch' ? batch[s.pick % batch.length] : undefined) ??
    committed[s.pick % committed.length] ??
    batch[s.pick % batch.length];
  if (source === undefined) return undefined;
  const t: Draft = { ...source };
  switch (s.change) {
    case 'none':
      break;
    case 'amount':
      t.amount = BigInt(t.amount ?? 0n) < MAX_INT64 ? BigInt(t.amount ?? 0n) + 1n : 1n;
      break;
    case 'repr':
      if (t.amount !== undefined) t.amount = typeof t.amount === 'string' ? BigInt(t.amount) : String(t.amount);
      break;
    case 'code':
      t.code = (t.code ?? 0) + 1;
      break;
    case 'reference':
      t.reference = 'order-2';
      break;
    case 'userData':
      t.userData = 'changed';
      break;
    case 'linked':
      t.flags = { ...t.flags, linked: t.flags?.linked !== true };
      break;
    case 'debit':
      t.debitAccountId = t.debitAccountId === accountId(m, 0) ? accountId(m, 3) : accountId(m, 0);
      break;
    case 'timeout':
      t.timeoutSeconds = (t.timeoutSeconds ?? 0) + 1;
      break;
  }
  return t;
}

function resolveTransfers(m: RunModel, specs: readonly TransferSpec[]): TransferInput[] {
  const batch: TransferInput[] = [];
  for (const s of specs) {
    const t =
      s.kind === 'new'
        ? resolveNew(m, s)
        : s.kind === 'malformed'
          ? resolveMalformed(m, s, batch)
          : s.kind === 'resolve'
            ? resolvePending(m, s, batch)
            : resolveDup(m, s, batch);
    if (t !== undefined) batch.push(t);
  }
  if (batch.length === 0) batch.push({ id: freshId(m), pendingId: `${m.prefix}u0`, flags: { voidPending: true } });
  return batch;
}

/** Every committed transfer exactly as it was sent, in commit order; a trailing linked one gets a closer. */
function replayBatch(m: RunModel): TransferInput[] {
  const all = [...m.ledger.committed];
  if (all.at(-1)?.flags?.linked === true) {
    const closer = all.find((t) => t.flags?.linked !== true);
    if (closer === undefined) return [];
    all.push(closer);
  }
  return all;
}

// ---------------------------------------------------------------------------------------------------------------
// Invariants checked after every command

function balances(
  a: Pick<Account, 'id' | 'currency' | 'debitsPending' | 'debitsPosted' | 'creditsPending' | 'creditsPosted'>,
) {
  return {
    id: a.id,
    currency: a.currency,
    debitsPending: a.debitsPending,
    debitsPosted: a.debitsPosted,
    creditsPending: a.creditsPending,
    creditsPosted: a.creditsPosted,
  };
}

async function readAccounts(m: RunModel, r: RunReal): Promise<Account[]> {
  const accounts = await r.market.ledger.getAccounts(slotIds(m));
  return accounts.sort((a, b) => a.id.localeCompare(b.id));
}

async function checkInvariants(m: RunModel, r: RunReal): Promise<void> {
  const expected = [...m.ledger.accounts.values()].sort((a, b) => a.id.localeCompare(b.id)).map(balances);
  const accounts = await readAccounts(m, r);
  expect(accounts.map(balances), 'cached balances equal the model').toEqual(expected);

  const totals = new Map<string, { dPosted: bigint; cPosted: bigint; dPending: bigint; cPending: bigint }>();
  for (const a of accounts) {
    const t = totals.get(a.currency) ?? { dPosted: 0n, cPosted: 0n, dPending: 0n, cPending: 0n };
    t.dPosted += a.debitsPosted;
    t.cPosted += a.creditsPosted;
    t.dPending += a.debitsPending;
    t.cPending += a.creditsPending;
    totals.set(a.currency, t);
    if (a.flags.debitsMustNotExceedCredits) {
      expect(a.debitsPosted + a.debitsPending, `${a.id} overdrawn`).toBeLessThanOrEqual(a.creditsPosted);
    }
    if (a.flags.creditsMustNotExceedDebits) {
      expect(a.creditsPosted + a.creditsPending, `${a.id} overdrawn`).toBeLessThanOrEqual(a.debitsPosted);
    }
  }
  for (const [currency, t] of totals) {
    expect(t.dPosted, `${currency} posted debits == posted credits`).toBe(t.cPosted);
    expect(t.dPending, `${currency} pending debits == pending credits`).toBe(t.cPending);
  }

  const verification = await r.market.ledger.verify();
  expect(verification.problems).toEqual([]);
  expect(verification.ok).toBe(true);

  const replay = replayBatch(m);
  if (replay.length === 0) return;
  const results = await r.market.ledger.createTransfers(replay);
  expect(
    results.map((x) => x.result),
    'replaying committed transfers',
  ).toEqual(replay.map(() => 'exists'));
  expect(m.ledger.createTransfers(replay, m.now)).toEqual(replay.map(() => 'exists'));
  const after = await readAccounts(m, r);
  expect(after, 'a replay changes nothing').toEqual(accounts);
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

/**
 * Runs one command's body, recording its concrete form (ids and amounts as sent) in the run's log. A failure
 * gets the whole log of the failing run appended, since the commands fast-check prints are the abstract specs.
 */
async function step(m: RunModel, sent: string, body: () => Promise<void>): Promise<void> {
  m.log.push(sent);
  try {
    await body();
  } catch (error) {
    if (error instanceof Error) error.message += `\nsteps of the failing run, as sent:\n${m.log.join('\n')}`;
    throw error;
  }
}

class CreateAccounts implements LedgerCommand {
  constructor(readonly specs: readonly AccountSpec[]) {}
  check = () => true;
  run(m: RunModel, r: RunReal): Promise<void> {
    const batch = resolveAccounts(m, this.specs);
    return step(m, `createAccounts(${fc.stringify(batch)})`, async () => {
      const expected = m.ledger.createAccounts(batch);
      const actual = await r.market.ledger.createAccounts(batch);
      expect(
        actual.map((x) => x.result),
        'account result codes',
      ).toEqual(expected);
      await checkInvariants(m, r);
    });
  }
  toString = () => `createAccounts(${fc.stringify(this.specs)})`;
}

class CreateTransfers implements LedgerCommand {
  constructor(readonly specs: readonly TransferSpec[]) {}
  check = () => true;
  run(m: RunModel, r: RunReal): Promise<void> {
    const batch = resolveTransfers(m, this.specs);
    return step(m, `createTransfers(${fc.stringify(batch)})`, async () => {
      const expected = m.ledger.createTransfers(batch, m.now);
      const actual = await r.market.ledger.createTransfers(batch);
      expect(
        actual.map((x) => x.result),
        'transfer result codes',
      ).toEqual(expected);
      await checkInvariants(m, r);
    });
  }
  toString = () => `createTransfers(${fc.stringify(this.specs)})`;
}

class AdvanceClock implements LedgerCommand {
  constructor(readonly ms: number) {}
  check = () => true;
  run(m: RunModel, r: RunReal): Promise<void> {
    return step(m, this.toString(), async () => {
      r.clock.advance(this.ms);
      m.now += this.ms;
      expect(r.clock.now()).toBe(m.now);
      await checkInvariants(m, r);
    });
  }
  toString = () => `advanceClock(${this.ms})`;
}

class ExpirePending implements LedgerCommand {
  constructor(readonly limit: number | undefined) {}
  check = () => true;
  run(m: RunModel, r: RunReal): Promise<void> {
    return step(m, this.toString(), async () => {
      const expected = m.ledger.expireDue(m.now, this.limit);
      const expired =
        this.limit === undefined
          ? await r.market.ledger.expirePendingTransfers()
          : await r.market.ledger.expirePendingTransfers(this.limit);
      expect(expired, 'number of expired transfers').toBe(expected);
      await checkInvariants(m, r);
    });
  }
  toString = () => `expirePendingTransfers(${this.limit ?? ''})`;
}

const commandArb: fc.Arbitrary<LedgerCommand> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .array(transferSpecArb, { minLength: 1, maxLength: 6 })
      .map((specs): LedgerCommand => new CreateTransfers(specs)),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(accountSpecArb, { minLength: 1, maxLength: 4 })
      .map((specs): LedgerCommand => new CreateAccounts(specs)),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(0, 1, 999, 1000, 1001, 2000, 5000, 60_000)
      .map((ms): LedgerCommand => new AdvanceClock(ms)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, undefined, 1, 2).map((limit): LedgerCommand => new ExpirePending(limit)),
  },
);

// ---------------------------------------------------------------------------------------------------------------

for (const backend of testBackends()) {
  describe(`ledger model on ${backend.name}`, () => {
    let database: TestDatabase;
    let market: Marketplace;
    const clock = new ManualClock();
    let runs = 0;

    beforeAll(async () => {
      database = await backend.createDatabase();
      market = createMarketplace({ adapter: database.adapter(), clock });
      await market.migrate();
    });
    afterAll(async () => {
      await market?.close();
      await database?.drop();
    });

    async function setup(): Promise<{ model: RunModel; real: RunReal }> {
      runs++;
      // Release what earlier runs left pending, so expiry counts and order concern this run only.
      clock.advance(FLUSH_MS);
      let expired: number;
      do expired = await market.ledger.expirePendingTransfers();
      while (expired > 0);
      const model: RunModel = {
        ledger: new LedgerModel(),
        prefix: `r${String(runs).padStart(4, '0')}`,
        now: clock.now(),
        nextId: 0,
        log: [],
      };
      const accounts = baselineAccounts(model);
      const expected = model.ledger.createAccounts(accounts);
      expect((await market.ledger.createAccounts(accounts)).map((x) => x.result)).toEqual(expected);
      return { model, real: { market, clock } };
    }

    it('matches the model, keeps every currency balanced and never overdraws a flagged account', async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands([commandArb], { maxCommands: MAX_COMMANDS, size: 'max' }), (commands) =>
          fc.asyncModelRun(setup, commands),
        ),
        { numRuns: NUM_RUNS },
      );
    });
  });
}
