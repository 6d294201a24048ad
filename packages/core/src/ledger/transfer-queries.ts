import type { Kysely } from 'kysely';
import { ValidationError } from '../errors/validation-error.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { transferFromRecord, transferRecordFromRow } from './ledger-rows.js';
import type { Transfer } from './transfer-types.js';

/** Input of `ledger.listTransfers`. */
export interface ListTransfersInput {
  readonly accountId: string;
  /** Page size, 1–1000. Default 50. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of transfers, newest first. */
export interface TransferPage {
  readonly transfers: readonly Transfer[];
  /** Pass as `cursor` to read the next (older) page; absent on the last page. */
  readonly nextCursor?: string;
}

interface Cursor {
  readonly createdAt: number;
  readonly id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

function decodeCursor(s: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') return { createdAt: v[0], id: v[1] };
  throw new ValidationError([{ path: ['cursor'], message: 'is not a cursor returned by listTransfers' }]);
}

export async function listTransfers(
  db: Kysely<MarketkitDatabase>,
  input: { accountId: string; limit: number; cursor?: string | undefined },
): Promise<TransferPage> {
  const cursor = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  let q = db
    .selectFrom('transfers')
    .selectAll()
    .where((eb) =>
      eb.or([eb('debit_account_id', '=', input.accountId), eb('credit_account_id', '=', input.accountId)]),
    );
  if (cursor !== undefined) {
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '<', BigInt(cursor.createdAt)),
        eb.and([eb('created_at', '=', BigInt(cursor.createdAt)), eb('id', '<', cursor.id)]),
      ]),
    );
  }
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(input.limit + 1)
    .execute();
  const page = rows.slice(0, input.limit).map((r) => transferFromRecord(transferRecordFromRow(r)));
  const last = page[page.length - 1];
  return rows.length > input.limit && last !== undefined
    ? { transfers: page, nextCursor: encodeCursor({ createdAt: last.createdAt, id: last.id }) }
    : { transfers: page };
}
