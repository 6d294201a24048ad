import type { Clock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import { chunks } from '../storage/chunks.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { Account, AccountInput, CreateAccountResult } from './account-types.js';
import { insertAccounts } from './account-writer.js';
import { applyTransfers, type TransfersCreatedHook } from './apply-transfers.js';
import { accountFromRow } from './ledger-rows.js';
import { accountBatchSchema, listTransfersSchema, type ParsedTransfer, transferBatchSchema } from './ledger-schemas.js';
import { loadSnapshot, writeOutcome } from './ledger-store.js';
import { type LedgerVerification, verifyLedger } from './ledger-verification.js';
import { expireDue } from './transfer-evaluator.js';
import { type ListTransfersInput, listTransfers, type TransferPage } from './transfer-queries.js';
import type { CreateTransferResult, TransferInput } from './transfer-types.js';

/**
 * Double-entry accounting with TigerBeetle's semantics, in SQL: accounts with cached balances, immutable
 * transfers with client-supplied ids, two-phase (pending → posted | voided | expired) and linked transfers.
 * Every batch runs in one database transaction; results are per item.
 *
 * @example
 * ```ts
 * await market.ledger.createAccounts([
 *   { id: 'buyer', currency: 'USD', code: 1, flags: { debitsMustNotExceedCredits: true } },
 *   { id: 'seller', currency: 'USD', code: 2 },
 * ]);
 * const [r] = await market.ledger.createTransfers([
 *   { id: 't1', debitAccountId: 'buyer', creditAccountId: 'seller', amount: 500n, currency: 'USD' },
 * ]);
 * // r.result === 'exceedsCredits' until the buyer has funds
 * ```
 */
export class Ledger {
  readonly #storage: Storage;
  readonly #clock: Clock;

  readonly #onCreated: TransfersCreatedHook | undefined;

  constructor(storage: Storage, clock: Clock, onCreated?: TransfersCreatedHook) {
    this.#storage = storage;
    this.#clock = clock;
    this.#onCreated = onCreated;
  }

  /**
   * Creates accounts. Idempotent per id: an identical account returns `exists`, a different one
   * `existsWithDifferent…`. Throws `VALIDATION_FAILED` (and writes nothing) on malformed input.
   */
  async createAccounts(accounts: readonly AccountInput[]): Promise<CreateAccountResult[]> {
    const batch = parseInput(accountBatchSchema, accounts, 'accounts');
    const now = this.#clock.now();
    return this.#storage.transaction((trx) => insertAccounts(trx, batch, now), { retryUniqueViolations: true });
  }

  /**
   * Applies transfers in order, in one database transaction, and returns one result per transfer.
   * Concurrency contract: any number of concurrent callers, in any number of processes, see each transfer id
   * applied at most once; balances never go below a flagged account's limit, pending amounts included.
   * Throws `VALIDATION_FAILED` (and writes nothing) on malformed input.
   */
  async createTransfers(transfers: readonly TransferInput[]): Promise<CreateTransferResult[]> {
    const batch = parseInput(transferBatchSchema, transfers, 'transfers');
    return this.#storage.transaction((trx) => this.#apply(trx, batch), { retryUniqueViolations: true });
  }

  /**
   * `createTransfers` inside a transaction the caller already holds, so a module's business rows and its
   * ledger transfers commit together. Validates like `createTransfers`.
   * @internal for Marketkit's own modules.
   */
  async createTransfersIn(
    trx: MarketkitTransaction,
    transfers: readonly TransferInput[],
  ): Promise<CreateTransferResult[]> {
    return this.#apply(trx, parseInput(transferBatchSchema, transfers, 'transfers'));
  }

  /**
   * `createAccounts` inside a transaction the caller already holds.
   * @internal for Marketkit's own modules.
   */
  async createAccountsIn(trx: MarketkitTransaction, accounts: readonly AccountInput[]): Promise<CreateAccountResult[]> {
    return insertAccounts(trx, parseInput(accountBatchSchema, accounts, 'accounts'), this.#clock.now());
  }

  #apply(trx: MarketkitTransaction, batch: readonly ParsedTransfer[]): Promise<CreateTransferResult[]> {
    return applyTransfers(trx, this.#storage.adapter.capabilities, batch, this.#clock.now(), this.#onCreated);
  }

  /**
   * Releases pending transfers whose timeout has passed (at most `limit` per call) and returns how many.
   * The worker runs this on a timer; a post or void of an expired transfer also expires it first.
   */
  async expirePendingTransfers(limit = 500): Promise<number> {
    const caps = this.#storage.adapter.capabilities;
    return this.#storage.transaction(async (trx) => {
      const now = this.#clock.now();
      let q = trx
        .selectFrom('pending_transfers')
        .select('id')
        .where('status', '=', 'pending')
        .where('expires_at', '<=', BigInt(now))
        .orderBy('id')
        .limit(limit);
      if (caps.skipLocked) q = q.forUpdate().skipLocked();
      const due = (await q.execute()).map((r) => r.id);
      if (due.length === 0) return 0;
      const state = await loadSnapshot(trx, caps, [], due, new Set());
      const expired = expireDue(state, now);
      await writeOutcome(trx, state, [], now);
      return expired;
    });
  }

  /** Looks accounts up by id, in the order asked; unknown ids are absent from the result. */
  async getAccounts(ids: readonly string[]): Promise<Account[]> {
    const found = new Map<string, Account>();
    for (const chunk of chunks([...new Set(ids)], 5000)) {
      const rows = await this.#storage.run((db) =>
        db.selectFrom('accounts').selectAll().where('id', 'in', chunk).execute(),
      );
      for (const r of rows) found.set(r.id, accountFromRow(r));
    }
    return ids.flatMap((id) => {
      const a = found.get(id);
      return a === undefined ? [] : [a];
    });
  }

  /** One account, or `undefined`. */
  async getAccount(id: string): Promise<Account | undefined> {
    return (await this.getAccounts([id]))[0];
  }

  /** An account's transfers, newest first, a page at a time (pass `nextCursor` back for the next page). */
  async listTransfers(input: ListTransfersInput): Promise<TransferPage> {
    const parsed = parseInput(listTransfersSchema, input, 'listTransfers input');
    return this.#storage.run((db) => listTransfers(db, parsed));
  }

  /**
   * Checks that every cached balance equals the sum of its transfers, that each currency sums to zero and
   * that no flagged account is overdrawn. Reads everything: meant for tests, audits and ops, not hot paths.
   */
  async verify(): Promise<LedgerVerification> {
    return this.#storage.snapshot((trx) => verifyLedger(trx));
  }
}
