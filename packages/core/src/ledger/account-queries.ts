import { type Kysely, sql } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import type { Account, AccountFlags } from './account-types.js';
import { ACCOUNT_FLAG, accountFlagsFromBits } from './ledger-flags.js';
import { accountFromRow } from './ledger-rows.js';
import { decodeAccountCursor, encodeAccountCursor } from './page-cursor.js';

/** Input of `ledger.listAccounts`: every filter given must hold. */
export interface ListAccountsInput {
  /** Only accounts of this code. */
  readonly code?: number;
  /** Only accounts in this currency (ISO 4217). */
  readonly currency?: string;
  /** Only accounts whose flags equal each flag given here (a flag left out may be either). */
  readonly flags?: AccountFlags;
  /** Only accounts whose id starts with this (compared exactly, case included). */
  readonly idPrefix?: string;
  /** Page size, 1–1000. Default 50. */
  readonly limit?: number;
  /** `nextCursor` of the previous page of the same query. */
  readonly cursor?: string;
}

/** A page of accounts, in id order. */
export interface AccountPage {
  readonly accounts: readonly Account[];
  /** Pass as `cursor` to read the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/** {@link ListAccountsInput} after validation. */
export interface ParsedAccountQuery {
  readonly code?: number | undefined;
  readonly currency?: string | undefined;
  readonly flags?: AccountFlags | undefined;
  readonly idPrefix?: string | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/**
 * Every stored flags value (bits of `ACCOUNT_FLAG`) that agrees with each flag `wanted` gives, or `undefined` when
 * every value does. A list of values rather than bit arithmetic: the same plain `in` on both databases.
 */
function matchingFlagBits(wanted: AccountFlags): number[] | undefined {
  const all = Object.values(ACCOUNT_FLAG).reduce((a, b) => a | b, 0);
  const values = Array.from({ length: all + 1 }, (_, bits) => bits);
  const matching = values.filter((bits) => {
    const has = accountFlagsFromBits(bits);
    return (Object.keys(wanted) as (keyof AccountFlags)[]).every(
      (k) => wanted[k] === undefined || has[k] === wanted[k],
    );
  });
  return matching.length === values.length ? undefined : matching;
}

/**
 * One page of accounts in id order, after the cursor's id. The id prefix is compared with `substr`, exact on both
 * databases whatever their collation (a `LIKE` would fold case on SQLite and treat `_` and `%` as patterns).
 */
export async function listAccounts(db: Kysely<MarketkitDatabase>, input: ParsedAccountQuery): Promise<AccountPage> {
  let q = db.selectFrom('accounts').selectAll();
  if (input.code !== undefined) q = q.where('code', '=', BigInt(input.code));
  if (input.currency !== undefined) q = q.where('currency', '=', input.currency);
  const bits = input.flags === undefined ? undefined : matchingFlagBits(input.flags);
  if (bits !== undefined) q = q.where('flags', 'in', bits.map(BigInt));
  const prefix = input.idPrefix;
  if (prefix !== undefined) {
    q = q.where(sql<string>`substr(${sql.ref('id')}, 1, ${sql.lit(prefix.length)})`, '=', prefix);
  }
  if (input.cursor !== undefined) q = q.where('id', '>', decodeAccountCursor(input.cursor, 'listAccounts'));
  const rows = await q
    .orderBy('id')
    .limit(input.limit + 1)
    .execute();
  const accounts = rows.slice(0, input.limit).map(accountFromRow);
  const last = accounts[accounts.length - 1];
  return rows.length > input.limit && last !== undefined
    ? { accounts, nextCursor: encodeAccountCursor(last.id) }
    : { accounts };
}
