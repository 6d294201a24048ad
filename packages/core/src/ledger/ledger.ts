import type { Clock } from '../clock/clock.js';
import { parseInput } from '../errors/validation-error.js';
import type { OutboxEventInput } from '../events/event-types.js';
import { chunks } from '../storage/chunks.js';
import { MAX_MAINTENANCE_LIMIT, parseRowLimit } from '../storage/row-limit.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import { type AccountBalance, type AccountBalanceInput, accountBalanceAt } from './account-balance.js';
import { type AccountPage, type ListAccountsInput, listAccounts } from './account-queries.js';
import type { Account, AccountInput, CreateAccountResult } from './account-types.js';
import { insertAccounts } from './account-writer.js';
import { applyTransferCalls } from './apply-transfer-calls.js';
import { type AppliedBatch, applyTransfersWithBalances, type TransfersCreatedHook } from './apply-transfers.js';
import type { CreatedTransfersOutput } from './created-transfers.js';
import { coalesceMaxBatch, type LedgerOptions, ledgerOptionsSchema } from './ledger-options.js';
import { LedgerRowStatements } from './ledger-row-statements.js';
import { accountFromRow } from './ledger-rows.js';
import {
  accountBalanceSchema,
  accountBatchSchema,
  listAccountsSchema,
  listTransfersSchema,
  lookupIdSchema,
  lookupIdsSchema,
  type ParsedTransfer,
  queryTransfersSchema,
} from './ledger-schemas.js';
import type { TransferRecord } from './ledger-state.js';
import { loadSnapshot, writeOutcome } from './ledger-store.js';
import { type LedgerVerification, verifyLedger } from './ledger-verification.js';
import { postedTransferValues } from './posted-transfer-ctes.js';
import { parseTransferBatch } from './transfer-batch-check.js';
import { TransferCoalescer } from './transfer-coalescer.js';
import { expireDue } from './transfer-evaluator.js';
import {
  type ListTransfersInput,
  listTransfers,
  type QueryTransfersInput,
  queryTransfers,
  type TransferPage,
} from './transfer-queries.js';
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

  readonly #onCreated: CreatedTransfersOutput | undefined;
  readonly #createdEvent: ((t: TransferRecord) => OutboxEventInput) | undefined;
  readonly #coalescer: TransferCoalescer | undefined;
  readonly #rows: LedgerRowStatements;

  /**
   * @param onCreated called with the transfers each batch created, in its transaction (the outbox hooks in here).
   * @param createdEvent the one outbox event `onCreated` writes per created transfer, if that is all it does: lets
   * other modules write a transfer inside a statement they compile in one piece (`Ledger.postedTransferValues`), and
   * lets a batch write those events in its own write statement on PostgreSQL instead of calling `onCreated`.
   * @param options {@link LedgerOptions}, validated here (`VALIDATION_FAILED` with the path `ledger.…`).
   */
  constructor(
    storage: Storage,
    clock: Clock,
    onCreated?: TransfersCreatedHook,
    createdEvent?: (t: TransferRecord) => OutboxEventInput,
    options?: LedgerOptions,
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#onCreated =
      onCreated === undefined
        ? undefined
        : {
            hook: onCreated,
            ...(createdEvent === undefined
              ? {}
              : { event: { of: createdEvent, clock, jsonType: storage.adapter.columnTypes.json } }),
          };
    this.#createdEvent = createdEvent;
    const maxBatch = coalesceMaxBatch(
      options === undefined ? undefined : parseInput(ledgerOptionsSchema, options, 'ledger'),
    );
    this.#coalescer =
      maxBatch === undefined
        ? undefined
        : new TransferCoalescer(
            (calls) =>
              this.#storage.transaction(
                (trx) =>
                  applyTransferCalls(
                    trx,
                    this.#storage.adapter.capabilities,
                    calls,
                    this.#clock.now(),
                    this.#onCreated,
                    this.#rows,
                  ).then((applied) => applied.results),
                { retryUniqueViolations: true },
              ),
            maxBatch,
          );
    this.#rows = new LedgerRowStatements(storage.templates, storage.adapter.capabilities.statementBatches === true);
  }

  /**
   * The values of a plain posted transfer for the CTEs of `postedTransferCtes` (one statement compiled by another
   * module), with the outbox events `createTransfers` would write for it; `undefined` when it cannot be written so
   * (not a plain posted transfer, or a created-transfers hook whose writes are unknown). Throws `VALIDATION_FAILED`
   * on malformed input.
   * @internal for Marketkit's own modules.
   */
  postedTransferValues(
    transfer: TransferInput,
    now: number,
    name: string,
  ): { readonly values: Record<string, unknown>; readonly events: readonly OutboxEventInput[] } | undefined {
    if (this.#onCreated !== undefined && this.#createdEvent === undefined) return undefined;
    const parsed = parseTransferBatch([transfer])[0]!;
    const compiled = postedTransferValues(parsed, now, name);
    if (compiled === undefined) return undefined;
    const events = this.#createdEvent === undefined ? [] : [this.#createdEvent(compiled.record)];
    return { values: compiled.values, events };
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
   *
   * With `createMarketplace({ ledger: { coalesce: true } })`, concurrent calls share transactions (group commit);
   * results are those of running the calls one after another in the order they were made, and a malformed call
   * fails alone, before it joins a batch. See {@link LedgerOptions.coalesce}.
   */
  async createTransfers(transfers: readonly TransferInput[]): Promise<CreateTransferResult[]> {
    const batch = parseTransferBatch(transfers);
    const obs = this.#storage.observability;
    if (obs.off) return this.#createParsed(batch);
    const attributes = () => ({ 'marketkit.transfers': batch.length });
    return obs.observe('ledger_batch', 'marketkit.ledger.batch', attributes, () => this.#createParsed(batch));
  }

  async #createParsed(batch: ReturnType<typeof parseTransferBatch>): Promise<CreateTransferResult[]> {
    if (this.#coalescer !== undefined) return this.#coalescer.submit(batch);
    return this.#storage.transaction(async (trx) => (await this.#apply(trx, batch)).results, {
      retryUniqueViolations: true,
    });
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
    return (await this.#apply(trx, parseTransferBatch(transfers))).results;
  }

  /**
   * `createTransfersIn`, also returning the balances of the accounts the batch touched as they stand after it
   * (read under the batch's row locks), so a caller need not read them again.
   * @internal for Marketkit's own modules.
   */
  async createTransfersWithBalancesIn(
    trx: MarketkitTransaction,
    transfers: readonly TransferInput[],
  ): Promise<AppliedBatch> {
    return this.#apply(trx, parseTransferBatch(transfers));
  }

  /**
   * `createAccounts` inside a transaction the caller already holds.
   * @internal for Marketkit's own modules.
   */
  async createAccountsIn(trx: MarketkitTransaction, accounts: readonly AccountInput[]): Promise<CreateAccountResult[]> {
    return insertAccounts(trx, parseInput(accountBatchSchema, accounts, 'accounts'), this.#clock.now());
  }

  #apply(trx: MarketkitTransaction, batch: readonly ParsedTransfer[]): Promise<AppliedBatch> {
    return applyTransfersWithBalances(
      trx,
      this.#storage.adapter.capabilities,
      batch,
      this.#clock.now(),
      this.#onCreated,
      this.#rows,
    );
  }

  /**
   * Releases pending transfers whose timeout has passed (at most `limit` per call, 1 to 10,000) and returns how many.
   * The worker runs this on a timer; a post or void of an expired transfer also expires it first.
   */
  async expirePendingTransfers(limit = 500): Promise<number> {
    parseRowLimit(limit, MAX_MAINTENANCE_LIMIT, 'expirePendingTransfers limit');
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
      // The same row statements as createTransfers (SQLite), so expiry writes as a batch does.
      const state = await loadSnapshot(trx, caps, [], due, new Set(), this.#rows);
      const expired = expireDue(state, now);
      await writeOutcome(trx, caps, state, [], now, this.#rows);
      return expired;
    });
  }

  /**
   * Looks accounts up by id, in the order asked; unknown ids are absent from the result. `VALIDATION_FAILED` when
   * `ids` is not an array of strings. Replica-safe (`eventual`): with read replicas the balances may lag the
   * primary by the adapter's bound (this instance's own writes included); transfers check balances again on the
   * primary, so a stale balance never lets money move that should not.
   */
  async getAccounts(ids: readonly string[]): Promise<Account[]> {
    parseInput(lookupIdsSchema, ids, 'account ids');
    const found = new Map<string, Account>();
    for (const chunk of chunks([...new Set(ids)], 5000)) {
      const rows = await this.#storage.read(
        (db) => db.selectFrom('accounts').selectAll().where('id', 'in', chunk).execute(),
        'eventual',
      );
      for (const r of rows) found.set(r.id, accountFromRow(r));
    }
    return ids.flatMap((id) => {
      const a = found.get(id);
      return a === undefined ? [] : [a];
    });
  }

  /** One account, or `undefined`. `VALIDATION_FAILED` when `id` is not a string. */
  async getAccount(id: string): Promise<Account | undefined> {
    parseInput(lookupIdSchema, id, 'account id');
    return (await this.getAccounts([id]))[0];
  }

  /**
   * An account's transfers, newest first, a page at a time (pass `nextCursor` back for the next page).
   * Replica-safe (`eventual`), as {@link Ledger.getAccounts}.
   */
  async listTransfers(input: ListTransfersInput): Promise<TransferPage> {
    const parsed = parseInput(listTransfersSchema, input, 'listTransfers input');
    return this.#storage.read((db) => listTransfers(db, parsed), 'eventual');
  }

  /**
   * Accounts in id order, a page at a time, filtered by code, currency, flags and id prefix (every filter given must
   * hold). Pass `nextCursor` back, with the same filters, for the next page. `limit` 1–1000 (default 50); malformed
   * input or a cursor it did not issue is `VALIDATION_FAILED`. Replica-safe (`eventual`), as
   * {@link Ledger.getAccounts}. The id prefix is matched exactly (case included); the other filters narrow a walk of
   * the tenant's accounts in id order.
   *
   * @example
   * ```ts
   * let cursor: string | undefined;
   * do {
   *   const page = await market.ledger.listAccounts({ currency: 'USD', code: 2, idPrefix: 'seller:', cursor });
   *   for (const a of page.accounts) console.log(a.id, a.creditsPosted - a.debitsPosted);
   *   cursor = page.nextCursor;
   * } while (cursor !== undefined);
   * ```
   */
  async listAccounts(input: ListAccountsInput = {}): Promise<AccountPage> {
    const parsed = parseInput(listAccountsSchema, input, 'listAccounts input');
    return this.#storage.read((db) => listAccounts(db, parsed), 'eventual');
  }

  /**
   * Transfers, a page at a time, newest or oldest first, filtered by account (either side, or only the debit or the
   * credit side), time range (`from` inclusive, `to` exclusive), code and the status of two-phase transfers. Pages
   * are ordered by timestamp, then id, and a cursor resumes just after the last transfer it saw: reading every page
   * returns each matching transfer exactly once, however many share a timestamp. Pass `nextCursor` back with the same
   * query. `limit` 1–1000 (default 50); malformed input or a cursor it did not issue is `VALIDATION_FAILED`.
   * Replica-safe (`eventual`). With an account, the account's (account, timestamp) indexes serve the query; without
   * one it reads the tenant's transfers in the range, which suits operator tools rather than hot paths.
   *
   * @example
   * ```ts
   * // Holds on a buyer's wallet still pending, oldest first.
   * const page = await market.ledger.queryTransfers({
   *   accountId: 'buyer-42',
   *   side: 'debit',
   *   pendingStatus: 'pending',
   *   order: 'oldest',
   *   limit: 100,
   * });
   * // Everything of code 7 in March 2026, newest first, a page at a time.
   * const march = { code: 7, from: Date.UTC(2026, 2, 1), to: Date.UTC(2026, 3, 1) };
   * const first = await market.ledger.queryTransfers(march);
   * const next = first.nextCursor && (await market.ledger.queryTransfers({ ...march, cursor: first.nextCursor }));
   * ```
   */
  async queryTransfers(input: QueryTransfersInput = {}): Promise<TransferPage> {
    const parsed = parseInput(queryTransfersSchema, input, 'queryTransfers input');
    return this.#storage.read((db) => queryTransfers(db, parsed), 'eventual');
  }

  /**
   * An account's balances as they stood at instant `at` (milliseconds since the epoch), like TigerBeetle's
   * `get_account_balances` over an account with the history flag: posted amounts of every transfer made at or before
   * `at`, and the amounts of two-phase transfers created by then and not yet posted, voided or expired by then (an
   * expired one is released when the ledger expired it: the worker's sweep or a batch that named it). `undefined` when
   * there is no such account; zeros before its first transfer. Computed from the transfers: nothing is written per
   * transfer to keep a history, so `createTransfers` pays nothing for it. An instant still in progress can change
   * until its transactions commit. `VALIDATION_FAILED` on malformed input. Replica-safe (`eventual`).
   *
   * @example
   * ```ts
   * const endOfMarch = await market.ledger.getAccountBalance({ accountId: 'seller-7', at: Date.UTC(2026, 3, 1) - 1 });
   * if (endOfMarch) console.log(endOfMarch.creditsPosted - endOfMarch.debitsPosted, endOfMarch.creditsPending);
   * ```
   */
  async getAccountBalance(input: AccountBalanceInput): Promise<AccountBalance | undefined> {
    const { accountId, at } = parseInput(accountBalanceSchema, input, 'getAccountBalance input');
    return this.#storage.read((db) => accountBalanceAt(db, accountId, at), 'eventual');
  }

  /**
   * Checks that every cached balance equals the sum of its transfers, that each currency sums to zero and
   * that no flagged account is overdrawn. Reads everything: meant for tests, audits and ops, not hot paths.
   */
  async verify(): Promise<LedgerVerification> {
    return this.#storage.snapshot((trx) => verifyLedger(trx));
  }
}
