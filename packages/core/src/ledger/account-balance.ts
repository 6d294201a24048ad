import type { Kysely } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import { toBigInt } from '../storage/int64.js';
import { TRANSFER_FLAG } from './ledger-flags.js';

/** Input of `ledger.getAccountBalance`. */
export interface AccountBalanceInput {
  readonly accountId: string;
  /** The instant, in milliseconds since the epoch: the balance counts every change made at or before it. */
  readonly at: number;
}

/** An account's balances as they stood at an instant, in minor units. */
export interface AccountBalance {
  readonly accountId: string;
  readonly at: number;
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
}

type Side = 'debit_account_id' | 'credit_account_id';

/** Sum of the amounts the account posted on `side` up to `at`: plain posted transfers and posts of pending ones. */
function postedSum(db: Kysely<MarketkitDatabase>, side: Side, accountId: string, at: number) {
  // A pending transfer posts nothing yet and a void posts nothing: every other transfer posts its amount.
  const { linked, postPending } = TRANSFER_FLAG;
  const posting = [0, linked, postPending, linked | postPending];
  return db
    .selectFrom('transfers')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string | number | bigint>('amount'), eb.lit(0)).as('total'))
    .where(side, '=', accountId)
    .where('created_at', '<=', BigInt(at))
    .where('flags', 'in', posting.map(BigInt));
}

/**
 * Sum of the amounts of two-phase transfers on `side` still pending at `at`: created by then, and not resolved by
 * then. A resolved one (posted, voided or expired) holds the time it was resolved in `updated_at`: its status never
 * changes again, and its balance changed in that same transaction.
 */
function pendingSum(db: Kysely<MarketkitDatabase>, side: Side, accountId: string, at: number) {
  // The flags narrow the join to two-phase transfers (the only ones with a status row) before it probes for one.
  const { linked, pending } = TRANSFER_FLAG;
  return db
    .selectFrom('transfers as t')
    .innerJoin('pending_transfers as p', 'p.id', 't.id')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string | number | bigint>('t.amount'), eb.lit(0)).as('total'))
    .where(`t.${side}`, '=', accountId)
    .where('t.created_at', '<=', BigInt(at))
    .where('t.flags', 'in', [BigInt(pending), BigInt(linked | pending)])
    .where((eb) => eb.or([eb('p.status', '=', 'pending'), eb('p.updated_at', '>', BigInt(at))]));
}

/**
 * The balances of `accountId` at `at`, summed from its transfers with the (account, created_at) indexes the
 * transfers table has always had; `undefined` when there is no such account. Nothing is written per transfer to
 * serve it, so `createTransfers` pays nothing for it.
 */
export async function accountBalanceAt(
  db: Kysely<MarketkitDatabase>,
  accountId: string,
  at: number,
): Promise<AccountBalance | undefined> {
  const row = await db
    .selectFrom('accounts as a')
    .select([
      postedSum(db, 'debit_account_id', accountId, at).as('debits_posted'),
      postedSum(db, 'credit_account_id', accountId, at).as('credits_posted'),
      pendingSum(db, 'debit_account_id', accountId, at).as('debits_pending'),
      pendingSum(db, 'credit_account_id', accountId, at).as('credits_pending'),
    ])
    .where('a.id', '=', accountId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const amount = (v: string | number | bigint | null) => (v === null ? 0n : toBigInt(v));
  return {
    accountId,
    at,
    debitsPending: amount(row.debits_pending),
    debitsPosted: amount(row.debits_posted),
    creditsPending: amount(row.credits_pending),
    creditsPosted: amount(row.credits_posted),
  };
}
