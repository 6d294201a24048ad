import { type Kysely, sql } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt } from '../storage/int64.js';
import { TRANSFER_FLAG } from './ledger-flags.js';
import { accountFromRow } from './ledger-rows.js';

/** Per-currency totals of every account's balances. Debits equal credits in a sound ledger. */
export interface CurrencyTotals {
  readonly currency: string;
  readonly debitsPosted: bigint;
  readonly creditsPosted: bigint;
  readonly debitsPending: bigint;
  readonly creditsPending: bigint;
}

/** The result of `ledger.verify()`: `ok` when no problem was found. */
export interface LedgerVerification {
  readonly ok: boolean;
  /** One line per broken invariant, naming the account or currency. */
  readonly problems: readonly string[];
  readonly totals: readonly CurrencyTotals[];
}

type Sums = Map<string, bigint>;

async function sumBy(
  db: Kysely<MarketkitDatabase>,
  side: 'debit_account_id' | 'credit_account_id',
  kind: 'posted' | 'pending',
): Promise<Sums> {
  const rows =
    kind === 'posted'
      ? await db
          .selectFrom('transfers')
          .select([side, sql<string>`sum(amount)`.as('total')])
          .where(sql<boolean>`(flags & ${TRANSFER_FLAG.pending | TRANSFER_FLAG.voidPending}) = 0`)
          .groupBy(side)
          .execute()
      : await db
          .selectFrom('pending_transfers')
          .select([side, sql<string>`sum(amount)`.as('total')])
          .where('status', '=', 'pending')
          .groupBy(side)
          .execute();
  return new Map(rows.map((r) => [(r as Record<string, string>)[side] as string, toBigInt(r.total)]));
}

/** Recomputes every balance from the transfers and checks the ledger's invariants. */
export async function verifyLedger(db: Kysely<MarketkitDatabase>): Promise<LedgerVerification> {
  const accounts = await db.selectFrom('accounts').selectAll().orderBy('id').execute();
  const dPosted = await sumBy(db, 'debit_account_id', 'posted');
  const cPosted = await sumBy(db, 'credit_account_id', 'posted');
  const dPending = await sumBy(db, 'debit_account_id', 'pending');
  const cPending = await sumBy(db, 'credit_account_id', 'pending');
  const problems: string[] = [];
  const totals = new Map<string, { dp: bigint; cp: bigint; dq: bigint; cq: bigint }>();
  for (const row of accounts) {
    const a = accountFromRow(row);
    const expect = {
      debitsPosted: dPosted.get(a.id) ?? 0n,
      creditsPosted: cPosted.get(a.id) ?? 0n,
      debitsPending: dPending.get(a.id) ?? 0n,
      creditsPending: cPending.get(a.id) ?? 0n,
    };
    for (const [field, value] of Object.entries(expect) as [keyof typeof expect, bigint][]) {
      if (a[field] !== value)
        problems.push(`account ${a.id}: cached ${field} ${a[field]} != sum of transfers ${value}`);
    }
    if (a.flags.debitsMustNotExceedCredits && a.debitsPending + a.debitsPosted > a.creditsPosted) {
      problems.push(`account ${a.id}: debits exceed credits though flagged debitsMustNotExceedCredits`);
    }
    if (a.flags.creditsMustNotExceedDebits && a.creditsPending + a.creditsPosted > a.debitsPosted) {
      problems.push(`account ${a.id}: credits exceed debits though flagged creditsMustNotExceedDebits`);
    }
    const t = totals.get(a.currency) ?? { dp: 0n, cp: 0n, dq: 0n, cq: 0n };
    totals.set(a.currency, {
      dp: t.dp + a.debitsPosted,
      cp: t.cp + a.creditsPosted,
      dq: t.dq + a.debitsPending,
      cq: t.cq + a.creditsPending,
    });
  }
  const out: CurrencyTotals[] = [];
  for (const [currency, t] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    if (t.dp !== t.cp) problems.push(`${currency}: posted debits ${t.dp} != posted credits ${t.cp}`);
    if (t.dq !== t.cq) problems.push(`${currency}: pending debits ${t.dq} != pending credits ${t.cq}`);
    out.push({ currency, debitsPosted: t.dp, creditsPosted: t.cp, debitsPending: t.dq, creditsPending: t.cq });
  }
  return { ok: problems.length === 0, problems, totals: out };
}
