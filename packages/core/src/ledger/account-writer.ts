import { chunks } from '../storage/chunks.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { Account, CreateAccountResult, CreateAccountResultCode } from './account-types.js';
import { accountFlagBits } from './ledger-flags.js';
import { accountFromRow } from './ledger-rows.js';
import type { ParsedAccount } from './ledger-schemas.js';

/** Inserts the new accounts of a batch and reports, per item, whether it was new or already there. */
export async function insertAccounts(
  trx: MarketkitTransaction,
  batch: readonly ParsedAccount[],
  now: number,
): Promise<CreateAccountResult[]> {
  const existing = new Map<string, Account>();
  for (const chunk of chunks([...new Set(batch.map((a) => a.id))], 5000)) {
    const rows = await trx.selectFrom('accounts').selectAll().where('id', 'in', chunk).execute();
    for (const r of rows) existing.set(r.id, accountFromRow(r));
  }
  const results: CreateAccountResult[] = [];
  const fresh: ParsedAccount[] = [];
  const seen = new Map<string, ParsedAccount>();
  batch.forEach((a, index) => {
    const prior = existing.get(a.id);
    const twin = seen.get(a.id);
    const result: CreateAccountResultCode =
      flagBitsOf(a) === 3
        ? 'flagsAreMutuallyExclusive'
        : prior !== undefined
          ? compareAccount(a, prior)
          : twin !== undefined
            ? compareParsed(a, twin)
            : 'ok';
    if (result === 'ok') {
      fresh.push(a);
      seen.set(a.id, a);
    }
    results.push({ index, id: a.id, result });
  });
  for (const chunk of chunks(fresh, 2000)) {
    await trx
      .insertInto('accounts')
      .values(
        chunk.map((a) => ({
          id: a.id,
          owner_id: a.ownerId ?? null,
          code: a.code,
          currency: a.currency,
          flags: flagBitsOf(a),
          user_data: a.userData ?? null,
          created_at: now,
        })),
      )
      .execute();
  }
  return results;
}

function flagBitsOf(a: ParsedAccount): number {
  return accountFlagBits(a.flags);
}

function compareAccount(a: ParsedAccount, e: Account): CreateAccountResultCode {
  if (a.currency !== e.currency) return 'existsWithDifferentCurrency';
  if (a.code !== e.code) return 'existsWithDifferentCode';
  if (flagBitsOf(a) !== accountFlagBits(e.flags)) return 'existsWithDifferentFlags';
  if ((a.ownerId ?? null) !== e.ownerId) return 'existsWithDifferentOwnerId';
  if ((a.userData ?? null) !== e.userData) return 'existsWithDifferentUserData';
  return 'exists';
}

function compareParsed(a: ParsedAccount, b: ParsedAccount): CreateAccountResultCode {
  if (a.currency !== b.currency) return 'existsWithDifferentCurrency';
  if (a.code !== b.code) return 'existsWithDifferentCode';
  if (flagBitsOf(a) !== flagBitsOf(b)) return 'existsWithDifferentFlags';
  if ((a.ownerId ?? null) !== (b.ownerId ?? null)) return 'existsWithDifferentOwnerId';
  if ((a.userData ?? null) !== (b.userData ?? null)) return 'existsWithDifferentUserData';
  return 'exists';
}
