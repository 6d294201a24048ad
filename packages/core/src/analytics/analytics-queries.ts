import { type Kysely, type RawBuilder, sql } from 'kysely';
import { ESCROW_CODES } from '../orders/escrow-accounts.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt, toNumber } from '../storage/int64.js';
import { DAY_MS } from './analytics-limits.js';

/** The range and currency one report reads, in epoch milliseconds. */
export interface ReportScope {
  readonly from: number;
  readonly to: number;
  readonly currency: string | undefined;
}

/** One grouped row: a day (days since the epoch), a currency, a sum in minor units and a row count. */
export interface DaySum {
  readonly day: number;
  readonly currency: string;
  readonly total: bigint;
  readonly count: number;
}

/** Per-day sums of the escrow flows recorded in the range. */
export interface FlowSums {
  readonly captures: readonly DaySum[];
  readonly commission: readonly DaySum[];
  readonly refunds: readonly DaySum[];
  readonly commissionRefunds: readonly DaySum[];
}

/** An order escrow that held money at some time in the range: when it was filled, and when it was emptied. */
export interface EscrowSpan {
  readonly currency: string;
  readonly capturedAt: number;
  /** When the last debit emptied it (before the range's end); `null` while it still holds money. */
  readonly emptiedAt: number | null;
}

// Literal SQL, so the same expression is identical in the select list and the group by (PostgreSQL compares them).
const ESCROW_IDS = sql.lit('mk:escrow:%');
const COMMISSION_IDS = sql.lit('mk:commission:%');
const dayOf = (column: string): RawBuilder<string> => sql<string>`${sql.ref(column)} / ${sql.lit(DAY_MS)}`;
const total = (column: string) => sql<string>`coalesce(sum(${sql.ref(column)}), 0)`;
const rowCount = sql<string>`count(*)`;

type Row = { day: string | number | bigint; currency: string; total: string | number | bigint; n: string | number };
const daySums = (rows: readonly Row[]): DaySum[] =>
  rows.map((r) => ({ day: toNumber(r.day), currency: r.currency, total: toBigInt(r.total), count: toNumber(r.n) }));

/** Adds up the rows of the same day and currency. */
function merged(rows: readonly DaySum[]): DaySum[] {
  const by = new Map<string, DaySum>();
  for (const r of rows) {
    const k = `${r.day}/${r.currency}`;
    const had = by.get(k);
    by.set(k, had === undefined ? r : { ...r, total: had.total + r.total, count: had.count + r.count });
  }
  return [...by.values()];
}

/** Sums of captures, commission and refunds by day, currency and kind within the range. */
export async function flowSums(db: Kysely<MarketkitDatabase>, scope: ReportScope): Promise<FlowSums> {
  // Where a refund came from: an order's escrow (a refund to the buyer), the commission account (commission given back).
  const source = sql<number>`case when debit_account_id like ${ESCROW_IDS} then 1 when debit_account_id like ${COMMISSION_IDS} then 2 else 0 end`;
  const rows = await db
    .selectFrom('transfers')
    .select([
      dayOf('created_at').as('day'),
      'currency',
      'code',
      source.as('source'),
      total('amount').as('total'),
      rowCount.as('n'),
    ])
    .where('code', 'in', [ESCROW_CODES.capture, ESCROW_CODES.commission, ESCROW_CODES.refund].map(BigInt))
    .where('created_at', '>=', BigInt(scope.from))
    .where('created_at', '<', BigInt(scope.to))
    .$if(scope.currency !== undefined, (q) => q.where('currency', '=', scope.currency ?? ''))
    .groupBy([dayOf('created_at'), 'currency', 'code', source])
    .execute();
  const pick = (code: number, from?: number) =>
    daySums(rows.filter((r) => toNumber(r.code) === code && (from === undefined || toNumber(r.source) === from)));
  // Rows of one day and currency may come in several groups (by source): add them up.
  return {
    captures: merged(pick(ESCROW_CODES.capture)),
    commission: merged(pick(ESCROW_CODES.commission)),
    refunds: pick(ESCROW_CODES.refund, 1),
    commissionRefunds: pick(ESCROW_CODES.refund, 2),
  };
}

/** Disputes opened in the range (events of `transitions`), by day and currency, with the value of their orders. */
export async function disputeSums(
  db: Kysely<MarketkitDatabase>,
  scope: ReportScope,
  transitions: readonly string[],
): Promise<DaySum[]> {
  if (transitions.length === 0) return [];
  const rows = await db
    .selectFrom('order_events as e')
    .innerJoin('orders as o', 'o.id', 'e.order_id')
    .select([dayOf('e.at').as('day'), 'o.currency as currency', total('o.amount_minor').as('total'), rowCount.as('n')])
    .where('e.transition', 'in', transitions)
    .where('e.at', '>=', BigInt(scope.from))
    .where('e.at', '<', BigInt(scope.to))
    .$if(scope.currency !== undefined, (q) => q.where('o.currency', '=', scope.currency ?? ''))
    .groupBy([dayOf('e.at'), 'o.currency'])
    .execute();
  return daySums(rows);
}

/** Net change of all order escrows by day and currency, from the first transfer to the range's end. */
export async function escrowChanges(db: Kysely<MarketkitDatabase>, scope: ReportScope): Promise<DaySum[]> {
  const inflow = sql<string>`case when credit_account_id like ${ESCROW_IDS} then amount else 0 end`;
  const outflow = sql<string>`case when debit_account_id like ${ESCROW_IDS} then amount else 0 end`;
  const rows = await db
    .selectFrom('transfers')
    .select([
      dayOf('created_at').as('day'),
      'currency',
      sql<string>`coalesce(sum(${inflow}), 0) - coalesce(sum(${outflow}), 0)`.as('total'),
      rowCount.as('n'),
    ])
    .where((eb) => eb.or([eb('credit_account_id', 'like', ESCROW_IDS), eb('debit_account_id', 'like', ESCROW_IDS)]))
    .where('created_at', '<', BigInt(scope.to))
    .$if(scope.currency !== undefined, (q) => q.where('currency', '=', scope.currency ?? ''))
    .groupBy([dayOf('created_at'), 'currency'])
    .execute();
  return daySums(rows);
}

/** Escrows captured before the range's end and not emptied before its start. */
export async function escrowSpans(db: Kysely<MarketkitDatabase>, scope: ReportScope): Promise<EscrowSpan[]> {
  const debits = db
    .selectFrom('transfers')
    .select(['debit_account_id', total('amount').as('out'), sql<string>`max(created_at)`.as('last')])
    .where('debit_account_id', 'like', ESCROW_IDS)
    .where('created_at', '<', BigInt(scope.to))
    .groupBy('debit_account_id');
  const rows = await db
    .selectFrom('transfers as c')
    .leftJoin(debits.as('d'), 'd.debit_account_id', 'c.credit_account_id')
    .select([
      'c.currency as currency',
      'c.created_at as captured',
      'c.amount as amount',
      'd.out as out',
      'd.last as last',
    ])
    .where('c.code', '=', BigInt(ESCROW_CODES.capture))
    .where('c.credit_account_id', 'like', ESCROW_IDS)
    .where('c.created_at', '<', BigInt(scope.to))
    .where(sql<boolean>`(d.out is null or d.out < c.amount or d.last >= ${BigInt(scope.from)})`)
    .$if(scope.currency !== undefined, (q) => q.where('c.currency', '=', scope.currency ?? ''))
    .execute();
  return rows
    .filter((r) => toBigInt(r.amount) > 0n)
    .map((r) => ({
      currency: r.currency,
      capturedAt: toNumber(r.captured),
      emptiedAt: r.out === null || toBigInt(r.out) < toBigInt(r.amount) || r.last === null ? null : toNumber(r.last),
    }));
}

/** Payouts requested (`requested`) and settled, paid or failed (`settled`), by day and currency, to the range's end. */
export async function payoutChanges(
  db: Kysely<MarketkitDatabase>,
  scope: ReportScope,
): Promise<{ requested: DaySum[]; settled: DaySum[] }> {
  const grouped = (column: 'created_at' | 'updated_at') =>
    db
      .selectFrom('payouts')
      .select([dayOf(column).as('day'), 'currency', total('amount_minor').as('total'), rowCount.as('n')])
      .where(column, '<', BigInt(scope.to))
      .$if(column === 'updated_at', (q) => q.where('status', '<>', 'requested'))
      .$if(scope.currency !== undefined, (q) => q.where('currency', '=', scope.currency ?? ''))
      .groupBy([dayOf(column), 'currency']);
  const [requested, settled] = [await grouped('created_at').execute(), await grouped('updated_at').execute()];
  return { requested: daySums(requested), settled: daySums(settled) };
}
