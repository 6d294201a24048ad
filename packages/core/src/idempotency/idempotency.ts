import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock/clock.js';
import { hasErrorCode, MarketkitError } from '../errors/marketkit-error.js';
import { parseInput } from '../errors/validation-error.js';
import type { MarketkitDatabase } from '../schema/database.js';
import { toNumber } from '../storage/int64.js';
import type { StatementTemplates } from '../storage/statement-template.js';
import type { MarketkitTransaction, Storage, TransactionOptions } from '../storage/storage.js';
import { IDEMPOTENCY_LIMITS } from './idempotency-limits.js';
import {
  beginOptionsSchema,
  callSchema,
  executeOptionsSchema,
  handleSchema,
  optionsSchema,
  scopeSchema,
  sweepLimitSchema,
} from './idempotency-schemas.js';
import {
  type ClaimValues,
  claimColumns,
  claimKey,
  deleteExpired,
  extendLock,
  type FingerprintedScope,
  insertNewKeyQuery,
  readRecord,
  releaseKey,
  resolveExisting,
  storeOutcome,
  storeOutcomeQuery,
} from './idempotency-store.js';
import type {
  BeginOptions,
  BeginResult,
  ExecuteOptions,
  FailOutcome,
  IdempotencyHandle,
  IdempotencyOptions,
  IdempotencyRecord,
  IdempotencyScope,
  IdempotentCall,
  PreparedClaim,
  ResultCodec,
} from './idempotency-types.js';
import { plainIdempotentCall, withoutLockMs } from './idempotent-call-check.js';
import { markReplayed } from './replay-mark.js';
import { requestFingerprint } from './request-fingerprint.js';
import { decodeResult, encodeError, encodeResult } from './result-encoding.js';
import { isStorableError } from './storable-error.js';

/**
 * Stripe-style idempotency keys, kept in the database so they hold across any number of processes. A key is scoped
 * to (actor, operation, key) and stored with the fingerprint of its request:
 * - the same key and request again returns the stored result (a success, or a deterministic error rethrown with
 *   the same code, message and details) and runs nothing;
 * - the same key with another request gets `IDEMPOTENCY_KEY_REUSED`;
 * - the same key while the first request is still in progress gets `IDEMPOTENCY_CONFLICT` (retryable);
 * - a key expires `ttlMs` (default 24 h, by the injected {@link Clock}) after its request started; after that it
 *   counts as never used, and {@link Idempotency.sweepExpired} deletes it.
 *
 * @example
 * ```ts
 * const order = await market.idempotency.execute(
 *   { key: req.header('Idempotency-Key'), actor: user.id, operation: 'orders.create', request: body },
 *   async (trx) => createOrderRows(trx, body), // business writes on the same transaction
 * );
 * ```
 */
export class Idempotency {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #lockMs: number;
  readonly #templates: StatementTemplates;
  /**
   * The handles `begin` gave out: frozen, and made only of checked parts (scope, SHA-256 fingerprint, UUID token,
   * integer attempt and lock time), so `handleSchema` accepts them and they need no second parse when they come
   * back. A handle the caller built or copied is parsed as before.
   */
  readonly #issued = new WeakSet<IdempotencyHandle>();

  constructor(storage: Storage, clock: Clock, options: IdempotencyOptions = {}) {
    const parsed = parseInput(optionsSchema, options, 'idempotency options');
    this.#storage = storage;
    this.#clock = clock;
    this.#ttlMs = parsed.ttlMs;
    this.#lockMs = parsed.lockMs;
    this.#templates = storage.newTemplates();
  }

  /** How long a key lives after its request started, in ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Runs `fn` at most once per key: in ONE database transaction it claims the key (`INSERT … ON CONFLICT`), runs
   * `fn`'s business writes on the same `trx` and stores the result, so all of it commits or none of it does.
   * If the key is already used it replays or refuses as the class describes, without calling `fn`.
   *
   * Errors thrown by `fn`: a non-retryable `MarketkitError` (say `INSUFFICIENT_FUNDS`) is deterministic, so its
   * code, message and details are stored and replayed; `fn`'s writes roll back and the error is stored in a second
   * short transaction. Anything else, retryable errors (`CONCURRENCY_CONFLICT`, storage errors) and foreign errors
   * alike, is not stored: the whole transaction rolls back and the key is free for a retry.
   *
   * `fn` must have no effects outside `trx`: it reruns on serialization failures and deadlocks, and may run in a
   * transaction that then rolls back. Its result must be plain data (bigint allowed), or pass a `codec`. `execute`
   * opens its own transaction: do not call it inside another one (on SQLite that waits for itself).
   *
   * Concurrency contract: of any number of concurrent callers with the same key and request, in any number of
   * processes, `fn`'s writes MUST commit at most once, and every caller MUST get that result (or its stored error),
   * or `IDEMPOTENCY_CONFLICT`. On PostgreSQL a concurrent caller waits for the first one's transaction and then
   * replays its result.
   *
   * @example
   * ```ts
   * const payout = await idempotency.execute(
   *   { key: 'po-7f3a', actor: 'seller-42', operation: 'payouts.create', request: { amount: 5000n } },
   *   async (trx) => {
   *     await trx.insertInto('payouts').values({ ... }).execute();
   *     return { payoutId: 'po_1', amount: 5000n };
   *   },
   * );
   * ```
   */
  async execute<T>(
    call: IdempotentCall,
    fn: (trx: MarketkitTransaction) => Promise<T>,
    options: ExecuteOptions<T> = {},
  ): Promise<T> {
    const { value, replayed } = await this.executeDetailed(call, fn, options);
    return replayed ? markReplayed(value) : value;
  }

  /**
   * {@link Idempotency.execute}, saying whether the result is a replay of the key's stored outcome (`replayed: true`:
   * `fn` did not run) or `fn`'s own. A replayed stored error is thrown marked as a replay too ({@link isReplayed}).
   * `execute` marks an object result the same way; this form also tells for results that are not objects.
   *
   * @example
   * ```ts
   * const { value, replayed } = await idempotency.executeDetailed(call, (trx) => createThing(trx));
   * if (replayed) res.set('Idempotent-Replayed', 'true');
   * ```
   */
  async executeDetailed<T>(
    call: IdempotentCall,
    fn: (trx: MarketkitTransaction) => Promise<T>,
    options: ExecuteOptions<T> = {},
  ): Promise<{ readonly value: T; readonly replayed: boolean }> {
    const scope = this.#parseCall(call);
    parseInput(executeOptionsSchema, options, 'execute options');
    let failure: MarketkitError | undefined;
    try {
      const outcome = await this.#storage.transaction(async (trx) => {
        failure = undefined;
        const now = this.#clock.now();
        const claimed = await claimKey(trx, scope, this.#claimValues(now, { status: 'in_progress', result: null }));
        if (claimed === undefined) return { stored: await this.#existing(trx, scope, now) };
        let value: T;
        try {
          value = await fn(trx);
        } catch (error) {
          if (isStorableError(error)) failure = error;
          throw error;
        }
        const result = encodeResult(options.codec === undefined ? value : options.codec.encode(value));
        if (!(await storeOutcome(trx, scope, { status: 'succeeded', result, now: this.#clock.now() }, null))) {
          throw new MarketkitError('INTERNAL', { message: `The claim of idempotency key ${scope.key} vanished.` });
        }
        return { value };
      }, transactionOptions(options));
      if ('value' in outcome) return { value: outcome.value, replayed: false };
      return { value: decode(outcome.stored, options.codec), replayed: true };
    } catch (error) {
      if (failure === undefined || error !== failure) throw error;
      return { value: await this.#storeFailure(scope, failure, options.codec), replayed: true };
    }
  }

  /**
   * Claims the key and commits an in-progress record, for work that calls an external service and so cannot hold
   * one transaction (a checkout saga step). Returns `started` with a handle; finish with {@link Idempotency.complete} in the
   * transaction of the business writes, or {@link Idempotency.fail}. Returns `replayed` with the stored result if the request
   * already succeeded, and throws as {@link Idempotency.execute} does otherwise (`IDEMPOTENCY_CONFLICT` while another holder's
   * lock lasts). Once a holder's lock expired (it crashed), the same request takes the key over with `attempt` + 1:
   * the external call must itself be idempotent (derive the provider's idempotency key from the operation).
   *
   * Concurrency contract: of any number of concurrent callers for a free key, exactly one MUST get `started`; while
   * its lock lasts, every other caller MUST get `IDEMPOTENCY_CONFLICT` (same request) or `IDEMPOTENCY_KEY_REUSED`.
   *
   * @example
   * ```ts
   * const begun = await idempotency.begin({ key, actor: buyerId, operation: 'checkout.capture', request });
   * if (begun.status === 'replayed') return begun.result;
   * try {
   *   const capture = await provider.capture({ idempotencyKey: `${orderId}:capture`, ... });
   *   return await storage.transaction(async (trx) => {
   *     await recordCapture(trx, capture);
   *     await idempotency.complete(trx, begun.handle, capture);
   *     return capture;
   *   });
   * } catch (error) {
   *   await idempotency.fail(begun.handle, error);
   *   throw error;
   * }
   * ```
   */
  async begin<T = unknown>(call: IdempotentCall, options: BeginOptions<T> = {}): Promise<BeginResult<T>> {
    const scope = this.#parseCall(call);
    const lockMs =
      (withoutLockMs(options) ? undefined : parseInput(beginOptionsSchema, options, 'begin options').lockMs) ??
      this.#lockMs;
    const token = randomUUID();
    const claimAt = (now: number) => this.#claimAt(now, lockMs, token);
    const started = (attempt: number, claim: { readonly lockedUntil: number }) =>
      Object.freeze({ status: 'started' as const, handle: this.#issue(scope, token, attempt, claim.lockedUntil) });
    // The usual case, a free key, is one statement on its own (no BEGIN/COMMIT). When the key has a record, that
    // insert changed nothing, and the full claim (which may replace an expired record or take over an abandoned
    // one) runs with the read of the record in one transaction, which keeps the record from changing between them.
    const first = claimAt(this.#clock.now());
    const fast = await this.#claimAlone(scope, first);
    if (fast !== undefined) return started(fast, first);
    const outcome = await this.#storage.transaction(async (trx) => {
      const now = this.#clock.now();
      const claim = claimAt(now);
      const attempt = await claimKey(trx, scope, claim);
      if (attempt === undefined) return { stored: await this.#existing(trx, scope, now) } as const;
      return { started: started(attempt, claim) } as const;
    });
    if ('started' in outcome) return outcome.started;
    return Object.freeze({ status: 'replayed', result: markReplayed(decode(outcome.stored, options.codec)) });
  }

  /**
   * Stores `result` as the outcome of a key taken with {@link Idempotency.begin}, inside `trx`, the transaction of the
   * business writes, so they commit together. Throws `LEASE_LOST` when the handle no longer holds the key (another
   * caller took it over after the lock expired): let it propagate so `trx` rolls back.
   *
   * @example
   * ```ts
   * await storage.transaction(async (trx) => {
   *   await recordCapture(trx, capture);
   *   await idempotency.complete(trx, handle, { captureId: capture.id });
   * });
   * ```
   */
  async complete<T>(
    trx: MarketkitTransaction,
    handle: IdempotencyHandle,
    result: T,
    options: { readonly codec?: ResultCodec<T> } = {},
  ): Promise<void> {
    this.#checkHandle(handle);
    const text = encodeResult(options.codec === undefined ? result : options.codec.encode(result));
    const outcome = { status: 'succeeded', result: text, now: this.#clock.now() } as const;
    const stored = await storeOutcome(trx, handle, outcome, { token: handle.token, ttlMs: this.#ttlMs });
    if (!stored) throw lost(handle);
  }

  /**
   * A claim of a free key prepared for a statement of the caller's own (the checkout's create-order statement),
   * so that claiming the key costs no statement of its own: {@link Idempotency.claimQuery} inserts the in-progress
   * record only when the key has none and returns one row; bind `values`. When the caller's statement committed
   * with that row, `handle` holds the key exactly like a handle {@link Idempotency.begin} gave out. When it did not
   * (the key has a record, or the statement rolled back), nothing was claimed: call `begin`, which decides. The
   * claim's lock lasts `lockMs` (default: the module's lock), to match the lease of the work it guards.
   * @internal for Marketkit's own modules.
   */
  prepareClaim(call: IdempotentCall, lockMs: number = this.#lockMs): PreparedClaim {
    const scope = this.#parseCall(call);
    const claim = this.#claimAt(this.#clock.now(), lockMs);
    const handle = this.#issue(scope, claim.lockToken, 1, claim.lockedUntil);
    const c = claimColumns(claim);
    // Named as claimQuery names them (`claim_<field>`), spelled out: a name built per call costs more than the insert.
    const values: Record<string, unknown> = {
      claim_key: scope.key,
      claim_actor: scope.actor,
      claim_operation: scope.operation,
      claim_fingerprint: scope.fingerprint,
      claim_now: c.now,
      claim_status: c.status,
      claim_result: c.result,
      claim_lockToken: c.lockToken,
      claim_lockedUntil: c.lockedUntil,
      claim_attempt: c.attempt,
      claim_completedAt: c.completedAt,
      claim_expiresAt: c.expiresAt,
    };
    return Object.freeze({ handle, values });
  }

  /**
   * {@link resolveExisting}, counted in `marketkit_idempotency_total` when metrics are on: `replayed` (the stored
   * outcome comes back), `conflict` (still in flight) or `mismatch` (the key with another request).
   */
  async #existing(trx: MarketkitTransaction, scope: FingerprintedScope, now: number) {
    const metrics = this.#storage.observability.metrics;
    if (metrics === undefined) return resolveExisting(trx, scope, now);
    try {
      const stored = await resolveExisting(trx, scope, now);
      metrics.idempotency('replayed');
      return stored;
    } catch (error) {
      if (hasErrorCode(error, 'IDEMPOTENCY_CONFLICT')) metrics.idempotency('conflict');
      else if (hasErrorCode(error, 'IDEMPOTENCY_KEY_REUSED')) metrics.idempotency('mismatch');
      throw error;
    }
  }

  /**
   * The insert of {@link Idempotency.prepareClaim}, built with placeholders, returning `attempt`. Built on `db`
   * (a statement template's) to run on its own; without it, a fragment to embed in another statement. @internal
   */
  claimQuery(p: (name: string) => never, db: Kysely<MarketkitDatabase> = this.#storage.fragmentDb) {
    const c = (name: string) => p(`claim_${name}`);
    return insertNewKeyQuery(
      db,
      { actor: c('actor'), operation: c('operation'), key: c('key'), fingerprint: c('fingerprint') },
      {
        now: c('now'),
        status: c('status'),
        result: c('result'),
        lockToken: c('lockToken'),
        lockedUntil: c('lockedUntil'),
        attempt: c('attempt'),
        completedAt: c('completedAt'),
        expiresAt: c('expiresAt'),
      },
    );
  }

  /**
   * The write of {@link Idempotency.complete} as a query built with placeholders (`p` of a `CheckedStatement`),
   * returning one row when it stored the result, for code that compiles a whole transaction into one statement: no
   * row means the handle no longer holds the key (`complete` would throw `LEASE_LOST`), and the statement must then
   * change nothing. `rowless`: the same write returning nothing, for a statement run on its own, whose affected row
   * count tells the same for less (SQLite's `RETURNING` costs about as much as the update). Bind
   * {@link Idempotency.completeValues}.
   * @internal for Marketkit's own modules.
   */
  completeQuery(p: (name: string) => never, rowless = false, db: Kysely<MarketkitDatabase> = this.#storage.fragmentDb) {
    const scope = { actor: p('key_actor'), operation: p('key_operation'), key: p('key_key') };
    const outcome = { status: p('key_status'), result: p('key_result'), now: p('key_now') };
    const query = storeOutcomeQuery(db, scope, outcome, { token: p('key_token'), ttlMs: p('key_ttl') });
    return rowless ? query : query.returning('status');
  }

  /** The values of {@link Idempotency.completeQuery} storing `result` for `handle`. @internal */
  completeValues<T>(
    handle: IdempotencyHandle,
    result: T,
    options: { readonly codec?: ResultCodec<T> } = {},
  ): Record<string, unknown> {
    this.#checkHandle(handle);
    return {
      key_actor: handle.actor,
      key_operation: handle.operation,
      key_key: handle.key,
      key_status: 'succeeded',
      key_result: encodeResult(options.codec === undefined ? result : options.codec.encode(result)),
      key_now: this.#clock.now(),
      key_token: handle.token,
      key_ttl: this.#ttlMs,
    };
  }

  /**
   * Ends a key taken with {@link Idempotency.begin} without success. A deterministic `error` (a non-retryable
   * `MarketkitError`) is stored and replayed to later requests (`stored`); any other error releases the key so the
   * request can be retried (`released`). Returns `lost`, and changes nothing, when the handle no longer holds the
   * key, so it is safe in a `catch` block. Pass `trx` to record it with compensating writes.
   *
   * @example
   * ```ts
   * catch (error) { await idempotency.fail(handle, error); throw error; }
   * ```
   */
  async fail(handle: IdempotencyHandle, error: unknown, trx?: MarketkitTransaction): Promise<FailOutcome> {
    this.#checkHandle(handle);
    const work = async (t: MarketkitTransaction): Promise<FailOutcome> => {
      if (!isStorableError(error)) return (await releaseKey(t, handle, handle.token)) ? 'released' : 'lost';
      const outcome = { status: 'failed', result: encodeError(error), now: this.#clock.now() } as const;
      return (await storeOutcome(t, handle, outcome, { token: handle.token, ttlMs: this.#ttlMs })) ? 'stored' : 'lost';
    };
    return trx === undefined ? this.#storage.transaction(work) : work(trx);
  }

  /**
   * Extends a {@link Idempotency.begin} holder's lock to `lockMs` from now (default: the module's lock) and returns the new
   * handle. Throws `LEASE_LOST` when the key was taken over or finished. For external calls that may outlast a lock.
   *
   * @example
   * ```ts
   * handle = await idempotency.renew(handle, 120_000);
   * ```
   */
  async renew(handle: IdempotencyHandle, lockMs?: number): Promise<IdempotencyHandle> {
    parseInput(handleSchema, handle, 'idempotency handle');
    const ms = parseInput(beginOptionsSchema, { lockMs }, 'renew options').lockMs ?? this.#lockMs;
    const lockedUntil = this.#clock.now() + ms;
    const ok = await this.#storage.transaction((trx) => extendLock(trx, handle, handle.token, lockedUntil));
    if (!ok) throw lost(handle);
    return Object.freeze({ ...handle, lockedUntil });
  }

  /**
   * What the database holds for a key (status, fingerprint, times), or `undefined` when it was never used or has
   * been swept. An expired record is returned with `expired: true`. For operators and tests.
   *
   * @example
   * ```ts
   * const rec = await idempotency.inspect({ key: 'po-7f3a', actor: 'seller-42', operation: 'payouts.create' });
   * ```
   */
  async inspect(scope: IdempotencyScope): Promise<IdempotencyRecord | undefined> {
    const s = parseInput(scopeSchema, scope, 'idempotency scope');
    const record = await this.#storage.run((db) => readRecord(db, s, this.#clock.now()));
    if (record === undefined) return undefined;
    const { result: _result, ...rest } = record;
    return Object.freeze(rest);
  }

  /**
   * Deletes records that expired (at most `limit`, in transactions of at most
   * `IDEMPOTENCY_LIMITS.sweepBatchSize`) and returns how many. Run it on a timer from any number of processes;
   * on PostgreSQL concurrent sweepers skip each other's rows.
   *
   * @example
   * ```ts
   * setInterval(() => void market.idempotency.sweepExpired().catch(log), 60_000);
   * ```
   */
  async sweepExpired(limit = 10_000): Promise<number> {
    parseInput(sweepLimitSchema, limit, 'sweep limit');
    const caps = this.#storage.adapter.capabilities;
    let total = 0;
    while (total < limit) {
      const batch = Math.min(IDEMPOTENCY_LIMITS.sweepBatchSize, limit - total);
      const now = this.#clock.now();
      const deleted = await this.#storage.transaction((trx) => deleteExpired(trx, caps, now, batch));
      total += deleted;
      if (deleted < batch) break;
    }
    return total;
  }

  /**
   * Claims a free key with one statement on its own (an insert that does nothing when the key has a record), from a
   * template compiled once; `undefined` when the key has a record, which {@link claimKey} then decides about.
   */
  async #claimAlone(scope: FingerprintedScope, claim: ClaimValues): Promise<number | undefined> {
    const template = this.#templates.get('claim-new', (db, p) =>
      insertNewKeyQuery(
        db,
        { actor: p('actor'), operation: p('operation'), key: p('key'), fingerprint: p('fingerprint') },
        {
          now: p('now'),
          status: p('status'),
          result: p('result'),
          lockToken: p('lockToken'),
          lockedUntil: p('lockedUntil'),
          attempt: p('attempt'),
          completedAt: p('completedAt'),
          expiresAt: p('expiresAt'),
        },
      ),
    );
    const query = template.bind({ ...scope, ...claimColumns(claim) });
    const out = await this.#storage.autocommit((db) => db.executeQuery<{ attempt: bigint | number }>(query));
    const row = out.rows[0];
    return row === undefined ? undefined : toNumber(row.attempt);
  }

  #parseCall(call: IdempotentCall): FingerprintedScope {
    const p = plainIdempotentCall(call) ?? parseInput(callSchema, call, 'idempotent call');
    return { key: p.key, actor: p.actor, operation: p.operation, fingerprint: requestFingerprint(call.request) };
  }

  /** Throws `VALIDATION_FAILED` for a handle `handleSchema` rejects; one `begin` gave out passed it already. */
  #checkHandle(handle: IdempotencyHandle): void {
    if (!this.#issued.has(handle)) parseInput(handleSchema, handle, 'idempotency handle');
  }

  /** An in-progress claim at `now` under `token`, locked for `lockMs`. */
  #claimAt(now: number, lockMs: number, token: string = randomUUID()) {
    const lockedUntil = now + lockMs;
    return {
      ...this.#claimValues(now, { status: 'in_progress', result: null }),
      lockToken: token,
      lockedUntil,
      expiresAt: Math.max(now + this.#ttlMs, lockedUntil),
    };
  }

  /** A handle of a claim, frozen and remembered as checked. */
  #issue(scope: FingerprintedScope, token: string, attempt: number, lockedUntil: number): IdempotencyHandle {
    // Spelled out rather than spread: every handle gets one shape, which V8 freezes far faster.
    const handle: IdempotencyHandle = Object.freeze({
      key: scope.key,
      actor: scope.actor,
      operation: scope.operation,
      fingerprint: scope.fingerprint,
      token,
      attempt,
      lockedUntil,
    });
    if (Number.isInteger(attempt) && attempt >= 1 && Number.isInteger(lockedUntil)) this.#issued.add(handle);
    return handle;
  }

  #claimValues(now: number, v: Pick<ClaimValues, 'status' | 'result'>): ClaimValues {
    return { now, ...v, lockToken: null, lockedUntil: null, expiresAt: now + this.#ttlMs };
  }

  /** Stores `failure` (thrown by `fn`, whose writes rolled back) as the key's outcome and rethrows it, or replays. */
  async #storeFailure<T>(scope: FingerprintedScope, failure: MarketkitError, codec?: ResultCodec<T>): Promise<T> {
    const result = encodeError(failure);
    const stored = await this.#storage.transaction(async (trx) => {
      const now = this.#clock.now();
      if ((await claimKey(trx, scope, this.#claimValues(now, { status: 'failed', result }))) !== undefined) return null;
      return resolveExisting(trx, scope, now);
    });
    if (stored === null) throw failure;
    return decode(stored, codec);
  }
}

function decode<T>(stored: string, codec: ResultCodec<T> | undefined): T {
  const value = decodeResult(stored);
  return codec === undefined ? (value as T) : codec.decode(value);
}

function transactionOptions(options: ExecuteOptions<unknown>): TransactionOptions {
  return {
    ...(options.retryUniqueViolations === undefined ? {} : { retryUniqueViolations: options.retryUniqueViolations }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.contended === undefined ? {} : { contended: options.contended }),
  };
}

function lost(handle: IdempotencyHandle): MarketkitError {
  return new MarketkitError('LEASE_LOST', {
    message: `The idempotency key ${handle.key} (attempt ${handle.attempt}) was taken over or already finished.`,
    details: { resource: 'idempotencyKey', id: handle.key, fence: String(handle.attempt) },
  });
}
