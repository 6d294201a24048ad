import { type RawBuilder, sql } from 'kysely';
import type { MarketkitTransaction } from '../storage/storage.js';
import { TENANT } from '../storage/tenant-plugin.js';
import type { AccountState, PendingState, TransferRecord } from './ledger-state.js';

/**
 * A ledger batch's writes where a JS array binds as one parameter (`capabilities.arrayParams`, PostgreSQL): one
 * statement, an `unnest` data-modifying CTE per table (`capabilities.writableCtes`; else one statement each), a
 * parameter per column whatever the row count, so compiling, binding and planning cost the same for 1 row and for
 * 8,190 (a VALUES list of 1,000 transfers is 12,000 parameters to bind and parse), in one round trip.
 * `alsoWrite`: more data-modifying CTEs of the same transaction, sent in the same statement (with `writableCtes`;
 * the outbox events of the created transfers, `outbox-arrays.ts`).
 */
export async function writeBatchUnnest(
  trx: MarketkitTransaction,
  writableCtes: boolean,
  created: readonly TransferRecord[],
  pendings: readonly PendingState[],
  accounts: readonly AccountState[],
  now: number,
  alsoWrite: readonly RawBuilder<unknown>[] = [],
): Promise<void> {
  const inserted = pendings.filter((p) => p.isNew);
  const resolved = pendings.filter((p) => !p.isNew);
  const writes = [
    created.length > 0 ? insertTransfers(created) : undefined,
    inserted.length > 0 ? insertPendings(inserted, now) : undefined,
    resolved.length > 0 ? updatePendings(resolved, now) : undefined,
    accounts.length > 0 ? updateAccounts(accounts) : undefined,
  ].filter((w) => w !== undefined);
  if (writes.length === 0 && alsoWrite.length === 0) return;
  if (!writableCtes || (writes.length === 1 && alsoWrite.length === 0)) {
    for (const w of [...writes, ...alsoWrite]) await w.execute(trx);
    return;
  }
  const ctes = writes.map((w, i) => sql`${sql.id(`w${i}`)} as (${w})`);
  await sql`with ${sql.join([...ctes, ...alsoWrite])} select 1`.execute(trx);
}

/** `ids` as one bound `text[]` value, for `id = any(…)`. */
export function textArray(ids: readonly string[]): RawBuilder<string> {
  return sql<string>`any(cast(${sql.val(ids)} as text[]))`;
}

/** Column arrays of `rows`, one per column, built in one pass. */
function columns<R>(rows: readonly R[], width: number, fill: (r: R, out: unknown[][]) => void): unknown[][] {
  const out = Array.from({ length: width }, () => [] as unknown[]);
  for (const r of rows) fill(r, out);
  return out;
}

const int8 = (v: bigint | number): string => v.toString();

function insertTransfers(created: readonly TransferRecord[]): RawBuilder<unknown> {
  const c = columns(created, 12, (t, o) => {
    o[0]!.push(t.id);
    o[1]!.push(t.debitAccountId);
    o[2]!.push(t.creditAccountId);
    o[3]!.push(int8(t.amount));
    o[4]!.push(t.currency);
    o[5]!.push(t.code);
    o[6]!.push(t.reference);
    o[7]!.push(t.userData);
    o[8]!.push(t.flags);
    o[9]!.push(t.pendingId);
    o[10]!.push(t.timeoutSeconds);
    o[11]!.push(int8(t.createdAt));
  });
  return sql`insert into ${sql.table('transfers')} (tenant, id, debit_account_id, credit_account_id, amount, currency, code,
      reference, user_data, flags, pending_id, timeout_seconds, created_at)
    select ${TENANT}, * from unnest(cast(${c[0]} as text[]), cast(${c[1]} as text[]), cast(${c[2]} as text[]),
      cast(${c[3]} as int8[]), cast(${c[4]} as text[]), cast(${c[5]} as int8[]), cast(${c[6]} as text[]),
      cast(${c[7]} as text[]), cast(${c[8]} as int8[]), cast(${c[9]} as text[]), cast(${c[10]} as int8[]),
      cast(${c[11]} as int8[]))`;
}

function insertPendings(rows: readonly PendingState[], now: number): RawBuilder<unknown> {
  const c = columns(rows, 8, (p, o) => {
    o[0]!.push(p.id);
    o[1]!.push(p.debitAccountId);
    o[2]!.push(p.creditAccountId);
    o[3]!.push(int8(p.amount));
    o[4]!.push(p.currency);
    o[5]!.push(p.status);
    o[6]!.push(p.expiresAt === null ? null : int8(p.expiresAt));
    o[7]!.push(p.resolvedById);
  });
  return sql`insert into ${sql.table('pending_transfers')} (tenant, id, debit_account_id, credit_account_id, amount,
      currency, status, expires_at, resolved_by_id, updated_at)
    select ${TENANT}, v.*, cast(${int8(now)} as int8) from unnest(cast(${c[0]} as text[]), cast(${c[1]} as text[]),
      cast(${c[2]} as text[]), cast(${c[3]} as int8[]), cast(${c[4]} as text[]), cast(${c[5]} as text[]),
      cast(${c[6]} as int8[]), cast(${c[7]} as text[])) as v`;
}

function updatePendings(rows: readonly PendingState[], now: number): RawBuilder<unknown> {
  const c = columns(rows, 3, (p, o) => {
    o[0]!.push(p.id);
    o[1]!.push(p.status);
    o[2]!.push(p.resolvedById);
  });
  return sql`update ${sql.table('pending_transfers')} as p set status = v.status, resolved_by_id = v.resolved_by_id,
      updated_at = cast(${int8(now)} as int8)
    from unnest(cast(${c[0]} as text[]), cast(${c[1]} as text[]), cast(${c[2]} as text[]))
      as v(id, status, resolved_by_id)
    where p.tenant = ${TENANT} and p.id = v.id`;
}

function updateAccounts(rows: readonly AccountState[]): RawBuilder<unknown> {
  const c = columns(rows, 5, (a, o) => {
    o[0]!.push(a.id);
    o[1]!.push(int8(a.debitsPending));
    o[2]!.push(int8(a.debitsPosted));
    o[3]!.push(int8(a.creditsPending));
    o[4]!.push(int8(a.creditsPosted));
  });
  return sql`update ${sql.table('accounts')} as a set debits_pending = v.dp, debits_posted = v.dpo,
      credits_pending = v.cp, credits_posted = v.cpo, version = a.version + 1
    from unnest(cast(${c[0]} as text[]), cast(${c[1]} as int8[]), cast(${c[2]} as int8[]), cast(${c[3]} as int8[]),
      cast(${c[4]} as int8[])) as v(id, dp, dpo, cp, cpo)
    where a.tenant = ${TENANT} and a.id = v.id`;
}
