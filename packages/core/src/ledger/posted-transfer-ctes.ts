import { type RawBuilder, sql } from 'kysely';
import type { StatementCheck } from '../storage/checked-statement.js';
import { ParamNames } from '../storage/param-names.js';
import type { ParamRef } from '../storage/statement-template.js';
import { TENANT } from '../storage/tenant-plugin.js';
import { ACCOUNT_FLAG } from './ledger-flags.js';
import { MAX_INT64 } from './ledger-limits.js';
import type { ParsedTransfer } from './ledger-schemas.js';
import type { TransferRecord } from './ledger-state.js';

/** The CTEs of a compiled transfer and the checks that roll the statement back otherwise. */
export interface PostedTransferShape {
  readonly ctes: readonly RawBuilder<unknown>[];
  readonly checks: readonly StatementCheck[];
  /** Name of the CTE returning the two accounts after the transfer (`id` and the four balances). */
  readonly accounts: string;
}

/**
 * A plain posted transfer (not pending, linked, posting or voiding) as CTEs of one data-modifying statement
 * ({@link CheckedStatement}); bind the values of {@link postedTransferValues} with the same `name`. It writes what
 * `createTransfers` writes for an `ok` result (the transfer row, both balances, `version + 1` on both accounts),
 * and its checks hold only where that IS the outcome: the id is new, both accounts exist in the transfer's
 * currency, neither carries the balance-limit flag its side would test (so the outcome cannot depend on balances)
 * and neither side overflows. Anything else fails a check, the statement changes nothing, and the caller runs the
 * generic evaluation, which reports the precise result. The account updates take the rows' locks and re-check
 * their conditions on the newest row versions.
 */
export function postedTransferCtes(p: ParamRef, name: string): PostedTransferShape {
  const v = (field: string) => p(`${name}_${field}`);
  const big = (value: unknown) => sql`cast(${value} as bigint)`;
  const tx = `${name}_transfer`;
  const accounts = `${name}_accounts`;
  const max = sql`cast(${sql.lit(MAX_INT64.toString())} as bigint)`;
  const ctes = [
    sql`${sql.id(tx)} as (
      insert into ${sql.table('transfers')} (tenant, id, debit_account_id, credit_account_id, amount, currency, code, reference,
        user_data, flags, pending_id, timeout_seconds, created_at)
      values (${TENANT}, ${v('id')}, ${v('debit')}, ${v('credit')}, ${big(v('amount'))}, ${v('currency')}, ${big(v('code'))},
        ${v('reference')}, ${v('user_data')}, 0, null, 0, ${big(v('now'))})
      on conflict (tenant, id) do nothing
      returning id)`,
    sql`${sql.id(accounts)} as (
      update ${sql.table('accounts')} as a set debits_posted = a.debits_posted + x.d,
        credits_posted = a.credits_posted + x.c, version = a.version + 1
      from (values (cast(${v('debit')} as text), ${big(v('amount'))}, cast(0 as bigint),
          cast(${sql.lit(ACCOUNT_FLAG.debitsMustNotExceedCredits)} as bigint)),
        (cast(${v('credit')} as text), cast(0 as bigint), ${big(v('amount'))},
          cast(${sql.lit(ACCOUNT_FLAG.creditsMustNotExceedDebits)} as bigint))) as x(id, d, c, limit_flag)
      where a.tenant = ${TENANT} and a.id = x.id and a.currency = ${v('currency')} and (a.flags & x.limit_flag) = 0
        and a.debits_posted <= ${max} - a.debits_pending - x.d
        and a.credits_posted <= ${max} - a.credits_pending - x.c
      returning a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)`,
  ];
  const checks: StatementCheck[] = [
    { name: `${name}: transfer is new`, ok: sql`(select count(*) from ${sql.id(tx)}) = 1` },
    {
      name: `${name}: accounts take it whatever their balances`,
      ok: sql`(select count(*) from ${sql.id(accounts)}) = 2`,
    },
  ];
  return { ctes, checks, accounts };
}

/** Parameter names of a posted transfer's values, `<name>_<column>`. */
const TRANSFER_NAMES = new ParamNames(
  ['id', 'debit', 'credit', 'amount', 'currency', 'code', 'reference', 'user_data', 'now'] as const,
  (name, _row, column) => `${name}_${column}`,
);

/**
 * The values of {@link postedTransferCtes} for transfer `t` created at `now`, with the row it records, or
 * `undefined` when `t` is not a plain posted transfer (then it must go through `createTransfers`).
 */
export function postedTransferValues(
  t: ParsedTransfer,
  now: number,
  name: string,
): { readonly values: Record<string, unknown>; readonly record: TransferRecord } | undefined {
  const flags = t.flags ?? {};
  if (flags.linked || flags.pending || flags.postPending || flags.voidPending) return undefined;
  if (t.pendingId !== undefined || (t.timeoutSeconds ?? 0) > 0) return undefined;
  const { debitAccountId: dr, creditAccountId: cr, amount, currency } = t;
  if (dr === undefined || cr === undefined || amount === undefined || currency === undefined) return undefined;
  if (dr === cr || amount === 0n) return undefined;
  const record: TransferRecord = {
    id: t.id,
    debitAccountId: dr,
    creditAccountId: cr,
    amount,
    currency,
    code: t.code ?? 0,
    reference: t.reference ?? null,
    userData: t.userData ?? null,
    flags: 0,
    pendingId: null,
    timeoutSeconds: 0,
    createdAt: now,
  };
  const k = TRANSFER_NAMES.of(name);
  const values = {
    [k.id]: record.id,
    [k.debit]: dr,
    [k.credit]: cr,
    [k.amount]: amount.toString(),
    [k.currency]: currency,
    [k.code]: record.code,
    [k.reference]: record.reference,
    [k.user_data]: record.userData,
    [k.now]: now,
  };
  return { values, record };
}
