/**
 * `npm run bench -- ledger`: transfers per second through `ledger.createTransfers` (single transfers, batches of
 * 100 and of 1,000; SQLite with synchronous=NORMAL and FULL; PostgreSQL sequential and 16 in flight), each
 * beside a baseline that applies the same transfers with hand-written SQL through the raw driver, in the same
 * run. On PostgreSQL it also counts the SDK's round trips per call and times each kind of statement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPostgresPool, postgresAdapter } from '@marketkit/adapters/postgres';
import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import { type AccountInput, createMarketplace, type Marketplace, type TransferInput } from '@marketkit/core';
import { createFreshDatabase, type FreshDatabase } from '@marketkit/testing';
import Database from 'better-sqlite3';
import pg from 'pg';
import { type RawEvents, rawEvents } from './ledger-raw-outbox.js';
import { analyzeDatabases } from './planner-statistics.js';
import { type Comparison, formatComparisons, formatTable, median, spread } from './report.js';
import { countingPool, StatementStats, statementLabel } from './statement-stats.js';

// ---------------------------------------------------------------------------------------------------------------
// Options

export interface BenchOptions {
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
  readonly only: 'sqlite' | 'postgres' | undefined;
}

export function parseOptions(args: readonly string[]): BenchOptions {
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only !== undefined && only !== 'sqlite' && only !== 'postgres')
    throw new Error(`--only=${only}: sqlite|postgres`);
  return quick ? { rounds: 1, roundMs: 300, warmupMs: 200, only } : { rounds: 5, roundMs: 800, warmupMs: 600, only };
}

// ---------------------------------------------------------------------------------------------------------------
// Workload: the same deterministic stream of transfers for the SDK and for the baseline

const USERS = 300;
const FUNDING = 1_000_000_000_000n;
const MIX = { plain: 0.72, pending: 0.14, void: 0.02 }; // the rest resolves an open pending transfer by posting it
const userId = (i: number) => `user:${String(i).padStart(4, '0')}`;

type Kind = 'plain' | 'pending' | 'post' | 'void';
interface OpenPending {
  readonly id: string;
  readonly amount: bigint;
}
/** Transfers for one `createTransfers` call, and the pending transfers they open (postable once committed). */
interface Batch {
  readonly transfers: TransferInput[];
  readonly opened: OpenPending[];
}

/** The ledger both sides start from: a funding account and USERS flagged accounts, funded first. */
export async function seedLedger(market: Marketplace): Promise<void> {
  await market.migrate();
  const accounts: AccountInput[] = [{ id: 'funding', currency: 'USD', code: 1, ownerId: 'platform' }];
  for (let i = 0; i < USERS; i++) {
    accounts.push({
      id: userId(i),
      currency: 'USD',
      code: 2,
      ownerId: `u${i}`,
      flags: { debitsMustNotExceedCredits: true },
    });
  }
  await market.ledger.createAccounts(accounts);
  const funding = accounts.slice(1).map((a) => ({
    id: `fund:${a.id}`,
    debitAccountId: 'funding',
    creditAccountId: a.id,
    amount: FUNDING,
    currency: 'USD',
  }));
  const results = await market.ledger.createTransfers(funding);
  if (results.some((r) => r.result !== 'ok')) throw new Error('funding failed');
}

/** Random pairs of users; amounts far below the funding, so every transfer succeeds. Seeded: both sides agree. */
export class Workload {
  #seq = 0;
  #seed: number;
  readonly #open: OpenPending[] = [];

  constructor(seed: number) {
    this.#seed = seed;
  }

  next(size: number, force?: Kind): Batch {
    const transfers: TransferInput[] = [];
    const opened: OpenPending[] = [];
    for (let i = 0; i < size; i++) transfers.push(this.#one(opened, force));
    return { transfers, opened };
  }

  /** Makes a committed batch's pending transfers available to later posts and voids. */
  settle(batch: Batch): void {
    this.#open.push(...batch.opened);
  }

  #one(opened: OpenPending[], force: Kind | undefined): TransferInput {
    const id = `t${(this.#seq++).toString(36).padStart(7, '0')}`;
    const kind = force ?? this.#kind();
    const p = kind === 'post' || kind === 'void' ? this.#open.shift() : undefined;
    if (p !== undefined && kind === 'void') return { id, pendingId: p.id, flags: { voidPending: true } };
    if (p !== undefined) {
      const partial = this.#random() < 0.4;
      return { id, pendingId: p.id, flags: { postPending: true }, ...(partial ? { amount: p.amount / 2n + 1n } : {}) };
    }
    let debit = Math.floor(this.#random() * USERS);
    const credit = Math.floor(this.#random() * USERS);
    if (debit === credit) debit = (debit + 1) % USERS;
    const amount = BigInt(1 + Math.floor(this.#random() * 50_000));
    const base = { id, debitAccountId: userId(debit), creditAccountId: userId(credit), amount, currency: 'USD' };
    if (kind !== 'pending') return { ...base, code: 10, reference: `order:${this.#seq}` };
    opened.push({ id, amount });
    return { ...base, code: 20, reference: `order:${this.#seq}`, flags: { pending: true }, timeoutSeconds: 3600 };
  }

  #kind(): Kind {
    const r = this.#random();
    if (r < MIX.plain) return 'plain';
    if (r < MIX.plain + MIX.pending) return 'pending';
    return r < MIX.plain + MIX.pending + MIX.void ? 'void' : 'post';
  }

  /** mulberry32 */
  #random(): number {
    this.#seed = (this.#seed + 0x6d2b79f5) | 0;
    let t = this.#seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The baseline's ledger logic: what a hand-written implementation evaluates between its reads and its writes

/** Transfer flag bits and account flag bits, as the ledger's tables store them. */
const BIT = {
  pending: 2,
  postPending: 4,
  voidPending: 8,
  debitsMustNotExceedCredits: 1,
  creditsMustNotExceedDebits: 2,
};

/** Columns the baseline writes, with their PostgreSQL types (for `unnest($n::type[])`). */
const TRANSFER_COLUMNS = {
  id: 'text',
  debit_account_id: 'text',
  credit_account_id: 'text',
  amount: 'int8',
  currency: 'text',
  code: 'int8',
  reference: 'text',
  user_data: 'text',
  flags: 'int8',
  pending_id: 'text',
  timeout_seconds: 'int8',
  created_at: 'int8',
} as const;
const PENDING_COLUMNS = {
  id: 'text',
  debit_account_id: 'text',
  credit_account_id: 'text',
  amount: 'int8',
  currency: 'text',
  status: 'text',
  expires_at: 'int8',
  resolved_by_id: 'text',
  updated_at: 'int8',
} as const;

type Value = string | number | bigint | null;
type TransferRow = Record<keyof typeof TRANSFER_COLUMNS, Value>;
type PendingRow = Record<keyof typeof PENDING_COLUMNS, Value> & { amount: bigint; status: string };
interface AccountRow {
  id: string;
  currency: string;
  flags: bigint;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  changed?: boolean;
}
interface RawPending {
  readonly row: PendingRow;
  readonly isNew: boolean;
  changed: boolean;
}
/** What a batch read (and, on PostgreSQL, locked): codes of existing transfers, pending rows, accounts. */
interface RawState {
  readonly codes: Map<string, number>;
  readonly pendings: Map<string, RawPending>;
  readonly accounts: Map<string, AccountRow>;
}
interface RawPlan {
  readonly transfers: TransferRow[];
  readonly newPendings: PendingRow[];
  readonly resolved: PendingRow[];
  readonly accounts: AccountRow[];
}

const emptyState = (): RawState => ({ codes: new Map(), pendings: new Map(), accounts: new Map() });
const pendingIdsOf = (batch: readonly TransferInput[]) => [
  ...new Set(batch.flatMap((t) => (t.pendingId === undefined ? [] : [t.pendingId]))),
];
const lookupIds = (batch: readonly TransferInput[]) => [
  ...new Set([...batch.map((t) => t.id), ...pendingIdsOf(batch)]),
];

function accountIdsOf(batch: readonly TransferInput[], s: RawState): string[] {
  const ids = new Set<string>();
  for (const t of batch) {
    if (t.debitAccountId !== undefined) ids.add(t.debitAccountId);
    if (t.creditAccountId !== undefined) ids.add(t.creditAccountId);
  }
  for (const p of s.pendings.values()) ids.add(String(p.row.debit_account_id)).add(String(p.row.credit_account_id));
  return [...ids].sort();
}

function touch(s: RawState, id: Value): AccountRow {
  const a = s.accounts.get(String(id));
  if (a === undefined) throw new Error(`baseline: account ${id} not found`);
  a.changed = true;
  return a;
}

/** Applies a batch to the rows read, in memory. The workload makes only valid transfers: anything else throws. */
function planBatch(batch: readonly TransferInput[], s: RawState, now: number): RawPlan {
  const transfers = batch.map((t) => {
    if (s.codes.has(t.id)) throw new Error(`baseline: transfer ${t.id} exists`);
    const row = t.pendingId === undefined ? planNew(t, s, now) : planResolve(t, t.pendingId, s, now);
    s.codes.set(t.id, Number(row.code));
    return row;
  });
  const pendings = [...s.pendings.values()];
  return {
    transfers,
    newPendings: pendings.filter((p) => p.isNew).map((p) => p.row),
    resolved: pendings.filter((p) => p.changed && !p.isNew).map((p) => p.row),
    accounts: [...s.accounts.values()].filter((a) => a.changed),
  };
}

function planNew(t: TransferInput, s: RawState, now: number): TransferRow {
  const [dr, cr] = [touch(s, t.debitAccountId!), touch(s, t.creditAccountId!)];
  const amount = BigInt(t.amount!);
  if (dr.currency !== t.currency || cr.currency !== t.currency) throw new Error('baseline: currency mismatch');
  const drLimited = (Number(dr.flags) & BIT.debitsMustNotExceedCredits) !== 0;
  const crLimited = (Number(cr.flags) & BIT.creditsMustNotExceedDebits) !== 0;
  if (drLimited && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted)
    throw new Error('exceeds credits');
  if (crLimited && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted)
    throw new Error('exceeds debits');
  const pending = t.flags?.pending === true;
  const timeout = t.timeoutSeconds ?? 0;
  if (pending) {
    dr.debits_pending += amount;
    cr.credits_pending += amount;
    const row: PendingRow = {
      id: t.id,
      debit_account_id: dr.id,
      credit_account_id: cr.id,
      amount,
      currency: dr.currency,
      status: 'pending',
      expires_at: timeout > 0 ? now + timeout * 1000 : null,
      resolved_by_id: null,
      updated_at: now,
    };
    s.pendings.set(t.id, { row, isNew: true, changed: true });
  } else {
    dr.debits_posted += amount;
    cr.credits_posted += amount;
  }
  return {
    id: t.id,
    debit_account_id: dr.id,
    credit_account_id: cr.id,
    amount,
    currency: dr.currency,
    code: t.code ?? 0,
    reference: t.reference ?? null,
    user_data: null,
    flags: pending ? BIT.pending : 0,
    pending_id: null,
    timeout_seconds: timeout,
    created_at: now,
  };
}

function planResolve(t: TransferInput, pendingId: string, s: RawState, now: number): TransferRow {
  const p = s.pendings.get(pendingId);
  if (p?.row.status !== 'pending') throw new Error(`baseline: ${pendingId} is not pending`);
  const post = t.flags?.postPending === true;
  const amount = t.amount === undefined ? p.row.amount : BigInt(t.amount);
  const [dr, cr] = [touch(s, p.row.debit_account_id), touch(s, p.row.credit_account_id)];
  dr.debits_pending -= p.row.amount;
  cr.credits_pending -= p.row.amount;
  if (post) {
    dr.debits_posted += amount;
    cr.credits_posted += amount;
  }
  Object.assign(p.row, { status: post ? 'posted' : 'voided', resolved_by_id: t.id, updated_at: now });
  p.changed = true;
  return {
    id: t.id,
    debit_account_id: dr.id,
    credit_account_id: cr.id,
    amount,
    currency: dr.currency,
    code: t.code ?? s.codes.get(pendingId) ?? 0,
    reference: t.reference ?? null,
    user_data: null,
    flags: post ? BIT.postPending : BIT.voidPending,
    pending_id: pendingId,
    timeout_seconds: 0,
    created_at: now,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sides: the SDK, and the baselines on better-sqlite3 and pg

/** Applies one batch in one database transaction. */
export interface Side {
  apply(transfers: readonly TransferInput[]): Promise<void>;
  close(): Promise<void>;
}

export function sdkSide(market: Marketplace): Side {
  return {
    async apply(transfers) {
      const results = await market.ledger.createTransfers(transfers);
      const bad = results.find((r) => r.result !== 'ok');
      if (bad !== undefined) throw new Error(`SDK: transfer ${bad.id}: ${bad.result}`);
    },
    close: () => market.close(),
  };
}

type Synchronous = 'NORMAL' | 'FULL';

const BALANCES = 'debits_pending, debits_posted, credits_pending, credits_posted';
const names = (columns: object) => Object.keys(columns).join(', ');
const namedParams = (columns: object) => Object.keys(columns).map((c) => `@${c}`);

/** better-sqlite3 statements prepared once; one `BEGIN IMMEDIATE` transaction per batch, a statement per row. */
function sqliteRawSide(file: string, synchronous: Synchronous): Side {
  const db = new Database(file);
  db.defaultSafeIntegers(true);
  for (const p of ['journal_mode = WAL', 'busy_timeout = 5000', 'foreign_keys = ON', `synchronous = ${synchronous}`]) {
    db.pragma(p);
  }
  const insert = (table: string, columns: object) =>
    db.prepare(`insert into ${table} (tenant, ${names(columns)}) values ('', ${namedParams(columns)})`);
  const st = {
    code: db.prepare("select code from mk_transfers where tenant = '' and id = ?").pluck(),
    pending: db.prepare(`select ${names(PENDING_COLUMNS)} from mk_pending_transfers where tenant = '' and id = ?`),
    account: db.prepare(`select id, currency, flags, ${BALANCES} from mk_accounts where tenant = '' and id = ?`),
    insertTransfer: insert('mk_transfers', TRANSFER_COLUMNS),
    insertPending: insert('mk_pending_transfers', PENDING_COLUMNS),
    updatePending: db.prepare(
      "update mk_pending_transfers set status = @status, resolved_by_id = @resolved_by_id, updated_at = @updated_at where tenant = '' and id = @id",
    ),
    updateAccount: db.prepare(
      `update mk_accounts set debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ?,
        version = version + 1 where tenant = '' and id = ?`,
    ),
    bumpCounter: db.prepare(
      `insert into mk_outbox_aggregates (tenant, aggregate_type, aggregate_id, last_seq, last_key)
        values ('', 'account', ?, ?, ?)
        on conflict (tenant, aggregate_type, aggregate_id) do update set
          last_seq = mk_outbox_aggregates.last_seq + excluded.last_seq,
          last_key = max(excluded.last_key, mk_outbox_aggregates.last_key + excluded.last_seq)
        returning last_seq, last_key`,
    ),
    insertEvent: db.prepare(
      `insert into mk_outbox_events (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type,
        payload, created_at) values ('', ?, 'account', ?, ?, ?, ?, 'transfer.created', ?, ?)`,
    ),
  };
  /** The SDK's two-statement outbox path: bump each aggregate's counter (sorted), then insert its events. */
  const appendEvents = (e: RawEvents, now: number) => {
    for (const g of e.aggregates) {
      const n = BigInt(g.indexes.length);
      const c = st.bumpCounter.get(g.aggregateId, n, BigInt(e.baseKey) + n - 1n) as {
        last_seq: bigint;
        last_key: bigint;
      };
      g.indexes.forEach((index, k) => {
        const seq = c.last_seq - n + BigInt(k) + 1n;
        const key = c.last_key - n + BigInt(k) + 1n;
        st.insertEvent.run(e.ids[index], g.aggregateId, seq, g.partition, key, e.payloads[index], now);
      });
    }
  };
  const apply = db.transaction((batch: readonly TransferInput[], now: number) => {
    const s = emptyState();
    for (const id of lookupIds(batch)) {
      const code = st.code.get(id) as bigint | undefined;
      if (code !== undefined) s.codes.set(id, Number(code));
    }
    for (const id of pendingIdsOf(batch)) {
      const row = st.pending.get(id) as PendingRow | undefined;
      if (row !== undefined) s.pendings.set(id, { row, isNew: false, changed: false });
    }
    for (const id of accountIdsOf(batch, s)) {
      const row = st.account.get(id) as AccountRow | undefined;
      if (row !== undefined) s.accounts.set(id, row);
    }
    const plan = planBatch(batch, s, now);
    for (const r of plan.transfers) st.insertTransfer.run(r);
    for (const p of plan.newPendings) st.insertPending.run(p);
    for (const p of plan.resolved) st.updatePending.run(p);
    for (const a of plan.accounts) {
      st.updateAccount.run(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted, a.id);
    }
    appendEvents(rawEvents(plan.transfers, now), now);
  });
  return {
    apply: async (batch) => apply.immediate(batch, Date.now()),
    close: async () => {
      db.close();
    },
  };
}

/** `insert into table (cols) select * from unnest($1::t1[], …)`: one statement for any number of rows. */
const unnestInsert = (table: string, columns: Record<string, string>) =>
  `insert into ${table} (tenant, ${names(columns)}) select '', * from unnest(${Object.values(columns).map((t, i) => `$${i + 1}::${t}[]`)})`;

const PG_SQL = {
  codes: "select id, code from mk_transfers where tenant = '' and id = any($1::text[])",
  lockPendings: `select ${names(PENDING_COLUMNS)} from mk_pending_transfers where tenant = '' and id = any($1::text[])
    order by id for update`,
  lockAccounts: `select id, currency, flags, ${BALANCES} from mk_accounts where tenant = '' and id = any($1::text[])
    order by id for update`,
  insertTransfers: unnestInsert('mk_transfers', TRANSFER_COLUMNS),
  insertPendings: unnestInsert('mk_pending_transfers', PENDING_COLUMNS),
  updatePendings: `update mk_pending_transfers p set status = v.status, resolved_by_id = v.by, updated_at = v.at
    from unnest($1::text[], $2::text[], $3::text[], $4::int8[]) as v(id, status, by, at) where p.tenant = '' and p.id = v.id`,
  updateAccounts: `update mk_accounts a set debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp,
    credits_posted = v.cpo, version = a.version + 1
    from unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) as v(id, dp, dpo, cp, cpo) where a.tenant = '' and a.id = v.id`,
  /** The SDK's one-statement outbox path (counter upsert in aggregate order, then the events), over arrays. */
  appendEvents: `with g as (select * from unnest($1::text[], $2::int8[]) as g(aggregate_id, cnt)),
    c as (insert into mk_outbox_aggregates (tenant, aggregate_type, aggregate_id, last_seq, last_key)
      select '', 'account', aggregate_id, cnt, $3::int8 + cnt - 1 from g order by aggregate_id
      on conflict (tenant, aggregate_type, aggregate_id) do update set
        last_seq = mk_outbox_aggregates.last_seq + excluded.last_seq,
        last_key = greatest(excluded.last_key, mk_outbox_aggregates.last_key + excluded.last_seq)
      returning aggregate_id, last_seq, last_key)
    insert into mk_outbox_events (tenant, id, aggregate_type, aggregate_id, seq, partition_no, sort_key, type, payload,
      created_at)
    select '', v.id, 'account', v.aggregate_id, c.last_seq - v.cnt + v.k + 1, v.partition_no, c.last_key - v.cnt + v.k + 1,
      'transfer.created', v.payload, $4::int8
    from unnest($5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::jsonb[])
      as v(id, aggregate_id, k, cnt, partition_no, payload)
    join c on c.aggregate_id = v.aggregate_id`,
} as const;

/** Rows to one array per column, for `unnest($1::t[], …)`. */
const columnsOf = <R extends object>(rows: readonly R[], keys: readonly (keyof R)[]) =>
  keys.map((k) => rows.map((r) => r[k]));

/** The values of `PG_SQL.appendEvents`. */
function appendEventsValues(e: RawEvents, now: number): unknown[] {
  const n = e.ids.length;
  const ids: unknown[] = [];
  const aggregates: unknown[] = [];
  const ks: unknown[] = [];
  const counts: unknown[] = [];
  const partitions: unknown[] = [];
  const payloads: unknown[] = [];
  for (const g of e.aggregates) {
    g.indexes.forEach((index, k) => {
      ids.push(e.ids[index]);
      aggregates.push(g.aggregateId);
      ks.push(k);
      counts.push(g.indexes.length);
      partitions.push(g.partition);
      payloads.push(e.payloads[index]);
    });
  }
  if (ids.length !== n) throw new Error('baseline: events lost');
  const groupIds = e.aggregates.map((g) => g.aggregateId);
  const groupCounts = e.aggregates.map((g) => g.indexes.length);
  return [groupIds, groupCounts, e.baseKey, now, ids, aggregates, ks, counts, partitions, payloads];
}

/**
 * pg: `BEGIN`, the same reads (existing ids; pending rows and accounts `FOR UPDATE` in id order), one multi-row
 * statement per insert or update (`unnest` of arrays), `COMMIT`. Unnamed statements, as the SDK sends: named ones
 * keep a generic plan made while the tables were small (see the README).
 */
export function postgresRawSide(pool: pg.Pool, stats: StatementStats): Side {
  const run = async <R>(client: pg.PoolClient, text: string, values?: unknown[]): Promise<R[]> => {
    const t0 = performance.now();
    const res = await client.query(text, values);
    stats.record(statementLabel(text), performance.now() - t0);
    return res.rows as R[];
  };
  const once = async (client: pg.PoolClient, batch: readonly TransferInput[], now: number) => {
    await run(client, 'begin');
    const s = emptyState();
    for (const r of await run<{ id: string; code: bigint }>(client, PG_SQL.codes, [lookupIds(batch)])) {
      s.codes.set(r.id, Number(r.code));
    }
    const pendingIds = pendingIdsOf(batch);
    if (pendingIds.length > 0) {
      for (const row of await run<PendingRow>(client, PG_SQL.lockPendings, [pendingIds])) {
        s.pendings.set(String(row.id), { row, isNew: false, changed: false });
      }
    }
    for (const r of await run<AccountRow>(client, PG_SQL.lockAccounts, [accountIdsOf(batch, s)]))
      s.accounts.set(r.id, r);
    const plan = planBatch(batch, s, now);
    await run(
      client,
      PG_SQL.insertTransfers,
      columnsOf(plan.transfers, Object.keys(TRANSFER_COLUMNS) as (keyof TransferRow)[]),
    );
    if (plan.newPendings.length > 0) {
      await run(
        client,
        PG_SQL.insertPendings,
        columnsOf(plan.newPendings, Object.keys(PENDING_COLUMNS) as (keyof PendingRow)[]),
      );
    }
    if (plan.resolved.length > 0) {
      await run(
        client,
        PG_SQL.updatePendings,
        columnsOf(plan.resolved, ['id', 'status', 'resolved_by_id', 'updated_at']),
      );
    }
    const balances = ['id', 'debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const;
    await run(client, PG_SQL.updateAccounts, columnsOf(plan.accounts, balances));
    await run(client, PG_SQL.appendEvents, appendEventsValues(rawEvents(plan.transfers, now), now));
    await run(client, 'commit');
  };
  return {
    async apply(batch) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        try {
          await once(client, batch, Date.now());
          return;
        } catch (error) {
          await client.query('rollback');
          const code = (error as { code?: unknown }).code;
          if (attempt >= 8 || (code !== '40001' && code !== '40P01')) throw error;
        } finally {
          client.release();
        }
      }
    },
    close: () => pool.end(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring

export interface Lane {
  readonly side: Side;
  readonly work: Workload;
}

async function runCount(lane: Lane, size: number, inFlight: number, batches: number): Promise<number> {
  let left = batches;
  const t0 = performance.now();
  const worker = async () => {
    while (left > 0) {
      left--;
      await applyNext(lane, size);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return performance.now() - t0;
}

/** Applies the next batch of the lane's workload and returns how long the call took. */
async function applyNext(lane: Lane, size: number): Promise<number> {
  const batch = lane.work.next(size);
  const t0 = performance.now();
  await lane.side.apply(batch.transfers);
  const ms = performance.now() - t0;
  lane.work.settle(batch);
  return ms;
}

/**
 * Sequential calls, interleaved: the SDK and the baseline take turns (who goes first alternates) on identical
 * batches, so noise from the machine (other processes, checkpoints) hits both sides alike.
 */
async function runInterleaved(lanes: Lanes, size: number, batches: number): Promise<[number, number]> {
  let [sdkMs, rawMs] = [0, 0];
  for (let i = 0; i < batches; i++) {
    if (i % 2 === 0) {
      sdkMs += await applyNext(lanes.sdk, size);
      rawMs += await applyNext(lanes.raw, size);
    } else {
      rawMs += await applyNext(lanes.raw, size);
      sdkMs += await applyNext(lanes.sdk, size);
    }
  }
  return [sdkMs, rawMs];
}

export interface Lanes {
  readonly sdk: Lane;
  readonly raw: Lane;
}

interface Measured {
  readonly comparison: Comparison;
  /** createTransfers calls and time of the SDK's measured rounds, and the same for the baseline. */
  readonly sdk: { readonly calls: number; readonly ms: number };
  readonly raw: { readonly calls: number; readonly ms: number };
}

/**
 * Warms both sides up, then runs rounds in which the SDK and the baseline apply the same batches from identically
 * seeded workloads: interleaved call by call when sequential, one side after the other when `inFlight` > 1.
 * A round is sized so that the SDK spends about `roundMs` in it. Figures are medians of the rounds.
 */
export async function compare(
  o: BenchOptions,
  label: { group: string; name: string },
  lanes: Lanes,
  size: number,
  inFlight = 1,
  beforeRounds: () => void | Promise<void> = () => {},
): Promise<Measured> {
  const run = async (batches: number): Promise<[number, number]> =>
    inFlight === 1
      ? runInterleaved(lanes, size, batches)
      : [await runCount(lanes.sdk, size, inFlight, batches), await runCount(lanes.raw, size, inFlight, batches)];
  let [warmBatches, warmMs] = [0, 0];
  for (let k = inFlight; warmMs < o.warmupMs; k *= 2) {
    warmMs += (await run(k))[0];
    warmBatches += k;
  }
  const perRound = Math.max(inFlight * 4, Math.round((warmBatches * o.roundMs) / warmMs));
  await beforeRounds();
  const [sdkRates, rawRates, ratios] = [[], [], []] as [number[], number[], number[]];
  let [sdkMs, rawMs] = [0, 0];
  for (let r = 0; r < o.rounds; r++) {
    const [a, b] = await run(perRound);
    sdkRates.push((perRound * size * 1000) / a);
    rawRates.push((perRound * size * 1000) / b);
    ratios.push(b / a);
    sdkMs += a;
    rawMs += b;
  }
  const [valueSpread, baselineSpread] = [spread(sdkRates), spread(rawRates)];
  const comparison: Comparison = {
    ...label,
    value: median(sdkRates),
    baseline: median(rawRates),
    ratio: median(ratios),
    ...(valueSpread === undefined ? {} : { valueSpread }),
    ...(baselineSpread === undefined ? {} : { baselineSpread }),
  };
  const calls = perRound * o.rounds;
  return { comparison, sdk: { calls, ms: sdkMs }, raw: { calls, ms: rawMs } };
}

const MODES = [
  { name: 'single transfers', size: 1 },
  { name: 'batches of 100', size: 100 },
  { name: 'batches of 1,000', size: 1000 },
] as const;

export async function verifyBoth(sdk: Marketplace, raw: Marketplace, what: string): Promise<void> {
  for (const [side, m] of [
    ['SDK', sdk],
    ['baseline', raw],
  ] as const) {
    const v = await m.ledger.verify();
    if (!v.ok) throw new Error(`${what} (${side}): ledger.verify() failed: ${v.problems.slice(0, 3).join('; ')}`);
  }
}

/** Both sides wrote the same number of transfers and outbox events (one `transfer.created` per transfer). */
function checkSameRows(what: string, sdk: readonly bigint[], raw: readonly bigint[]): void {
  if (sdk[0] !== raw[0] || sdk[1] !== raw[1] || sdk[0] !== sdk[1]) {
    throw new Error(`${what}: transfers/events differ: SDK ${sdk.join('/')}, baseline ${raw.join('/')}`);
  }
}
const COUNT_ROWS =
  "select (select count(*) from mk_transfers where tenant = '') as t, (select count(*) from mk_outbox_events where tenant = '') as e";

function sqliteCounts(file: string): bigint[] {
  const db = new Database(file, { readonly: true });
  try {
    const r = db.prepare(COUNT_ROWS).safeIntegers(true).get() as { t: bigint; e: bigint };
    return [r.t, r.e];
  } finally {
    db.close();
  }
}

async function postgresCounts(pool: pg.Pool): Promise<bigint[]> {
  const r = (await pool.query<{ t: string; e: string }>(COUNT_ROWS)).rows[0]!;
  return [BigInt(r.t), BigInt(r.e)];
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

async function benchSqlite(o: BenchOptions, synchronous: Synchronous): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'marketkit-bench-'));
  const group = `SQLite WAL, synchronous=${synchronous}`;
  const open = (file: string) =>
    createMarketplace({ adapter: sqliteAdapter({ filename: join(dir, file), synchronous }) });
  try {
    const market = open('sdk.db');
    const seedRaw = open('raw.db');
    await seedLedger(market);
    await seedLedger(seedRaw);
    await seedRaw.close();
    const lanes = {
      sdk: { side: sdkSide(market), work: new Workload(42) },
      raw: { side: sqliteRawSide(join(dir, 'raw.db'), synchronous), work: new Workload(42) },
    };
    const out: Comparison[] = [];
    for (const m of MODES) out.push((await compare(o, { group, name: m.name }, lanes, m.size)).comparison);
    await lanes.raw.side.close();
    const check = open('raw.db');
    await verifyBoth(market, check, group);
    await check.close();
    await market.close();
    checkSameRows(group, sqliteCounts(join(dir, 'sdk.db')), sqliteCounts(join(dir, 'raw.db')));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PostgresFigures {
  readonly rows: Comparison[];
  readonly breakdowns: { readonly title: string; readonly sdk: Breakdown; readonly raw: Breakdown }[];
  readonly probe: readonly (readonly [Kind, number, number])[];
  readonly server: string;
}
interface Breakdown {
  readonly stats: StatementStats;
  readonly calls: number;
  readonly ms: number;
}

async function benchPostgres(o: BenchOptions): Promise<PostgresFigures> {
  const base = process.env['MARKETKIT_PG_URL'] || 'postgres://root@127.0.0.1:5432/test';
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const [sdkDb, rawDb] = [await freshDatabase(base, cleanup), await freshDatabase(base, cleanup)];
    const sdkStats = new StatementStats();
    const rawStats = new StatementStats();
    const inner = await createPostgresPool({ connectionString: sdkDb.url, max: 16 });
    cleanup.push(() => inner.end()); // after the marketplace closes: the adapter leaves a given pool open
    const market = closeLater(createMarketplace({ adapter: postgresAdapter({ pool: countingPool(inner, sdkStats) }) }));
    const rawMarket = closeLater(createMarketplace({ adapter: postgresAdapter({ connectionString: rawDb.url }) }));
    function closeLater(m: Marketplace): Marketplace {
      cleanup.push(() => m.close());
      return m;
    }
    await seedLedger(market);
    await seedLedger(rawMarket);
    const rawPool = new pg.Pool({ connectionString: rawDb.url, max: 16, types: { getTypeParser: int8AsBigInt } });
    rawPool.on('error', () => {}); // an idle client whose database is dropped must not crash the run
    cleanup.push(() => rawPool.end());
    const lanes = {
      sdk: { side: sdkSide(market), work: new Workload(42) },
      raw: { side: postgresRawSide(rawPool, rawStats), work: new Workload(42) },
    };
    const group = 'PostgreSQL';
    const rows: Comparison[] = [];
    const breakdowns: PostgresFigures['breakdowns'] = [];
    const analyze = () => analyzeDatabases(rawPool, inner as unknown as pg.Pool);
    const reset = async () => {
      await analyze();
      sdkStats.reset();
      rawStats.reset();
    };
    for (const m of MODES) {
      const r = await compare(o, { group, name: m.name }, lanes, m.size, 1, reset);
      rows.push(r.comparison);
      const [sdk, raw] = [
        { stats: sdkStats.clone(), ...r.sdk },
        { stats: rawStats.clone(), ...r.raw },
      ];
      breakdowns.push({ title: m.name, sdk, raw });
    }
    rows.push((await compare(o, { group, name: 'single transfers, 16 in flight' }, lanes, 1, 16, analyze)).comparison);
    const probe = await probeRoundTrips(lanes, sdkStats, rawStats);
    const version = await rawPool.query<{ v: string }>("select current_setting('server_version') as v");
    await verifyBoth(market, rawMarket, group);
    const sdkCountPool = new pg.Pool({ connectionString: sdkDb.url, max: 1 });
    cleanup.push(() => sdkCountPool.end());
    checkSameRows(group, await postgresCounts(sdkCountPool), await postgresCounts(rawPool));
    return { rows, breakdowns, probe, server: version.rows[0]?.v ?? '?' };
  } finally {
    for (const undo of cleanup.reverse()) await undo().catch(() => {});
  }
}

export async function freshDatabase(base: string, cleanup: (() => Promise<unknown>)[]): Promise<FreshDatabase> {
  const db = await createFreshDatabase(base, { prefix: 'mk_bench_' });
  cleanup.push(() => db.drop());
  return db;
}

export function int8AsBigInt(oid: number, format?: string) {
  const parse = pg.types.getTypeParser(oid, format as 'text');
  return oid === pg.types.builtins.INT8 ? (v: string) => BigInt(v) : parse;
}

/** Round trips of one `createTransfers([t])` call of each kind, SDK and baseline. */
async function probeRoundTrips(lanes: Lanes, sdkStats: StatementStats, rawStats: StatementStats) {
  const out: [Kind, number, number][] = [];
  for (const kind of ['plain', 'pending', 'post', 'void'] as const) {
    if (kind === 'post' || kind === 'void') {
      for (const lane of [lanes.sdk, lanes.raw]) lane.work.settle(await applied(lane, 'pending'));
    }
    sdkStats.reset();
    rawStats.reset();
    await applied(lanes.sdk, kind);
    await applied(lanes.raw, kind);
    out.push([kind, sdkStats.calls, rawStats.calls]);
  }
  return out;
}

async function applied(lane: Lane, kind: Kind): Promise<Batch> {
  const batch = lane.work.next(1, kind);
  await lane.side.apply(batch.transfers);
  return batch;
}

// ---------------------------------------------------------------------------------------------------------------
// Entry point and output

/**
 * Runs the ledger benchmark and prints its tables to stdout (progress goes to stderr). Flags: `--quick` (one
 * short round per row, a smoke run; the figures are not stable), `--only=sqlite` or `--only=postgres`.
 *
 * @example
 * ```sh
 * npm run bench -- ledger
 * npm run bench -- ledger --quick --only=postgres
 * ```
 */
export async function runLedgerBench(args: readonly string[] = []): Promise<void> {
  const o = parseOptions(args);
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const rows: Comparison[] = [];
  const progress = (r: Comparison[]) => {
    for (const c of r) process.stderr.write(`  done: ${c.group}, ${c.name}\n`);
    rows.push(...r);
  };
  if (o.only !== 'postgres') for (const sync of ['NORMAL', 'FULL'] as const) progress(await benchSqlite(o, sync));
  const pgFigures = o.only === 'sqlite' ? undefined : await benchPostgres(o);
  if (pgFigures !== undefined) progress(pgFigures.rows);
  console.log(header(o, pgFigures?.server, [loadBefore, loadavg()[0] ?? 0]));
  console.log(formatComparisons(rows, { value: 'SDK tx/s', baseline: 'raw SQL tx/s', ratio: 'SDK/raw' }));
  if (pgFigures !== undefined) printPostgresDetail(pgFigures);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.log(
    `\nledger.verify() passed on every database (SDK and baseline), both wrote the same transfers and outbox events. ${seconds} s in all.`,
  );
}

function header(o: BenchOptions, server: string | undefined, load: readonly [number, number]): string {
  const pct = (n: number) => `${Math.round(n * 100)}%`;
  const post = 1 - MIX.plain - MIX.pending - MIX.void;
  return [
    `Ledger benchmark: Node ${process.version}, ${cpus().length} CPUs${server ? `, PostgreSQL ${server}` : ''}; ` +
      `1-minute load average ${load[0].toFixed(1)} before, ${load[1].toFixed(1)} after (other processes skew figures).`,
    `Workload: ${USERS} flagged user accounts funded first, random pairs; ${pct(MIX.plain)} plain, ` +
      `${pct(MIX.pending)} pending (1 h timeout), ${pct(post)} post (40% partial), ${pct(MIX.void)} void.`,
    `Each row: warm-up, then ${o.rounds} round(s) in which the SDK and the baseline apply the same transfers, taking`,
    'turns call by call (16 in flight: one side after the other). Figures are medians of the rounds; ± is half',
    "their spread; SDK/raw is the median of the rounds' throughput ratios.",
    'Baseline: hand-written SQL through the raw driver doing the same reads, locks, inserts and updates, and the same',
    'outbox rows (a transfer.created event per transfer: counter upsert per aggregate, event insert):',
    '  SQLite: better-sqlite3 statements prepared once, one BEGIN IMMEDIATE per call (same pragmas as the adapter);',
    '  PostgreSQL: pg, BEGIN, `id = any($1)` reads, FOR UPDATE in id order, one unnest() statement per insert or',
    '  update, COMMIT. SQLite files in a temp dir; two fresh PostgreSQL databases, dropped after.',
    '',
  ].join('\n');
}

const STATEMENT_ORDER = [
  'begin',
  'select transfers',
  'select pending_transfers for update',
  'select accounts for update',
  'insert transfers',
  'insert pending_transfers',
  'update pending_transfers',
  'update accounts',
  'commit',
];

function printPostgresDetail(f: PostgresFigures): void {
  const single = f.breakdowns[0];
  const mix = single === undefined ? '' : ` (mix average: SDK ${perCall(single.sdk)}, raw ${perCall(single.raw)})`;
  console.log(`\nPostgreSQL round trips per createTransfers([one transfer])${mix}:`);
  const rt = f.probe.map(([kind, sdk, raw]) => [kind, String(sdk), String(raw)]);
  console.log(formatTable(['transfer', 'SDK', 'raw'], rt, ['left', 'right', 'right']));
  for (const b of f.breakdowns) {
    console.log(`\nPostgreSQL, ${b.title}: where the time of one createTransfers call goes (µs, sequential)`);
    console.log(breakdownTable(b.sdk, b.raw));
  }
}

const perCall = (b: Breakdown) => (b.stats.calls / b.calls).toFixed(2);

function breakdownTable(sdk: Breakdown, raw: Breakdown): string {
  const labels = [...new Set([...sdk.stats.entries(), ...raw.stats.entries()].map(([l]) => l))].sort(
    (a, b) => rank(a) - rank(b) || a.localeCompare(b),
  );
  const us = (b: Breakdown, ms: number) => (ms * 1000) / b.calls;
  const row = (name: string, n: string, s: number, r: number) => [name, n, fmt(s), fmt(r), ratio(s, r)];
  const rows = labels.map((l) =>
    row(l, (sdk.stats.get(l).calls / sdk.calls).toFixed(2), us(sdk, sdk.stats.get(l).ms), us(raw, raw.stats.get(l).ms)),
  );
  rows.push(row('= in the database (sum)', perCall(sdk), us(sdk, sdk.stats.ms), us(raw, raw.stats.ms)));
  rows.push(row('+ outside it (JS, driver)', '', us(sdk, sdk.ms - sdk.stats.ms), us(raw, raw.ms - raw.stats.ms)));
  rows.push(row('= wall time per call', '', us(sdk, sdk.ms), us(raw, raw.ms)));
  return formatTable(['statement', 'per call', 'SDK µs', 'raw µs', 'SDK/raw'], rows, [
    'left',
    'right',
    'right',
    'right',
    'right',
  ]);
}

const rank = (label: string) => (STATEMENT_ORDER.indexOf(label) + 1 || 99) as number;
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
