import type { Kysely } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import { transferFromRecord, transferRecordFromRow } from './ledger-rows.js';
import { decodePosition, encodePosition } from './page-cursor.js';
import type { PendingStatus, Transfer } from './transfer-types.js';

/** Input of `ledger.listTransfers`. */
export interface ListTransfersInput {
  readonly accountId: string;
  /** Page size, 1–1000. Default 50. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** Input of `ledger.queryTransfers`: every filter given must hold. */
export interface QueryTransfersInput {
  /** Only the transfers of this account. */
  readonly accountId?: string;
  /** Which side of the transfer `accountId` must be on. Default `either`; `debit` and `credit` need `accountId`. */
  readonly side?: 'debit' | 'credit' | 'either';
  /** Created at or after this instant (milliseconds since the epoch). */
  readonly from?: number;
  /** Created before this instant (exclusive). */
  readonly to?: number;
  /** Only transfers of this code (a post or void carries its own code, by default the pending transfer's). */
  readonly code?: number;
  /**
   * Only two-phase transfers (created with `flags.pending`) whose status is this now: `pending` until posted,
   * voided, or released when its timeout passed (by the worker's sweep or a batch that named it: `expired`).
   */
  readonly pendingStatus?: PendingStatus;
  /** `newest` first (the default) or `oldest` first; ties on the timestamp are ordered by id. */
  readonly order?: 'newest' | 'oldest';
  /** Page size, 1–1000. Default 50. */
  readonly limit?: number;
  /** `nextCursor` of the previous page of the same query. */
  readonly cursor?: string;
}

/** A page of transfers, in the order asked (`listTransfers`: newest first). */
export interface TransferPage {
  readonly transfers: readonly Transfer[];
  /** Pass as `cursor` to read the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/** {@link QueryTransfersInput} after validation. */
export interface ParsedTransferQuery {
  readonly accountId?: string | undefined;
  readonly side: 'debit' | 'credit' | 'either';
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly code?: number | undefined;
  readonly pendingStatus?: PendingStatus | undefined;
  readonly order: 'newest' | 'oldest';
  readonly limit: number;
  readonly cursor?: string | undefined;
}

const CURSOR_OF = 'queryTransfers or listTransfers';

/**
 * One page of transfers in (created_at, id) order, either way. The cursor is the last row's position, so the next
 * page starts strictly after it: no transfer is read twice or skipped, however many share a timestamp.
 */
export async function queryTransfers(db: Kysely<MarketkitDatabase>, input: ParsedTransferQuery): Promise<TransferPage> {
  const cursor = input.cursor === undefined ? undefined : decodePosition(input.cursor, CURSOR_OF);
  const after = input.order === 'newest' ? '<' : '>';
  const direction = input.order === 'newest' ? 'desc' : 'asc';
  let q = db.selectFrom('transfers as t').selectAll('t');
  const account = input.accountId;
  if (account !== undefined) {
    if (input.side === 'debit') q = q.where('t.debit_account_id', '=', account);
    else if (input.side === 'credit') q = q.where('t.credit_account_id', '=', account);
    else q = q.where((eb) => eb.or([eb('t.debit_account_id', '=', account), eb('t.credit_account_id', '=', account)]));
  }
  if (input.from !== undefined) q = q.where('t.created_at', '>=', BigInt(input.from));
  if (input.to !== undefined) q = q.where('t.created_at', '<', BigInt(input.to));
  if (input.code !== undefined) q = q.where('t.code', '=', BigInt(input.code));
  if (input.pendingStatus !== undefined) {
    // Only a two-phase transfer has a row there, under its own id.
    q = q.innerJoin('pending_transfers as p', 'p.id', 't.id').where('p.status', '=', input.pendingStatus);
  }
  if (cursor !== undefined) {
    q = q.where((eb) =>
      eb.or([
        eb('t.created_at', after, BigInt(cursor.createdAt)),
        eb.and([eb('t.created_at', '=', BigInt(cursor.createdAt)), eb('t.id', after, cursor.id)]),
      ]),
    );
  }
  const rows = await q
    .orderBy('t.created_at', direction)
    .orderBy('t.id', direction)
    .limit(input.limit + 1)
    .execute();
  const page = rows.slice(0, input.limit).map((r) => transferFromRecord(transferRecordFromRow(r)));
  const last = page[page.length - 1];
  return rows.length > input.limit && last !== undefined
    ? { transfers: page, nextCursor: encodePosition({ createdAt: last.createdAt, id: last.id }) }
    : { transfers: page };
}

/** An account's transfers, newest first: `queryTransfers` with only `accountId`. */
export function listTransfers(
  db: Kysely<MarketkitDatabase>,
  input: { accountId: string; limit: number; cursor?: string | undefined },
): Promise<TransferPage> {
  return queryTransfers(db, { ...input, side: 'either', order: 'newest' });
}
