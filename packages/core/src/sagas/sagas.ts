import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type Clock, systemClock } from '../clock/clock.js';
import { MarketkitError } from '../errors/marketkit-error.js';
import { storableText } from '../errors/storable-text.js';
import { parseInput, ValidationError } from '../errors/validation-error.js';
import { createIdFactory, type IdFactory } from '../ids/id-factory.js';
import { decodeJson, encodeJson, encodeJsonInput } from '../jobs/json-column.js';
import { activeTraceparent } from '../observability/tracing.js';
import { parseRowLimit } from '../storage/row-limit.js';
import type { MarketkitTransaction, Storage } from '../storage/storage.js';
import type { SagaRegistry } from './saga-registry.js';
import {
  AlreadyStarted,
  InlineStartFailed,
  runClaimedSaga,
  type SagaRunControl,
  type SagaRunOutcome,
} from './saga-runner.js';
import {
  type ClaimedSaga,
  changeFailedSaga,
  claimSaga,
  claimSagas,
  sagaFromRow,
  stepEntryFromRow,
} from './saga-store.js';
import type { SagaInfo, SagaStepEntry, StartSagaOptions } from './saga-types.js';

const idSchema = storableText().min(1).max(200);
/**
 * Zod schema of the note `market.sagas.resolve` records with a resolved saga (what was done by hand): 1–2,000
 * characters.
 */
export const sagaResolutionNoteSchema = storableText().min(1).max(2000);

const startOptionsSchema = z.strictObject({
  id: idSchema.optional(),
  runAt: z.number().int().nonnegative().optional(),
});

/**
 * Durable sagas: start them, look them up, and (for operators) list, retry or resolve the ones parked as
 * `failed`. Workers ({@link createWorker}) run them; nothing here keeps state in memory.
 *
 * @example
 * ```ts
 * const sagas = new Sagas(storage, new SagaRegistry([checkoutSaga]), clock);
 * const saga = await sagas.start('checkout', { orderId: 'o1', amount: 500n }, { id: 'checkout:o1' });
 * // … a worker runs it …
 * (await sagas.get(saga.id))?.status; // 'completed'
 * for (const parked of await sagas.listFailed()) await sagas.resolve(parked.id, 'refunded by hand');
 * ```
 */
export class Sagas {
  readonly #storage: Storage;
  readonly #clock: Clock;
  readonly #ids: IdFactory;
  readonly registry: SagaRegistry;

  constructor(
    storage: Storage,
    registry: SagaRegistry,
    clock: Clock = systemClock,
    ids: IdFactory = createIdFactory(),
  ) {
    this.#storage = storage;
    this.registry = registry;
    this.#clock = clock;
    this.#ids = ids;
  }

  /**
   * Starts the saga `name` with `input` (validated by its schema): stores it as `running`, for a worker to run.
   * Pass `trx` to start it atomically with the caller's own writes. Idempotent on `options.id`: starting the
   * same id again returns the stored saga; with another name or input it throws `IDEMPOTENCY_KEY_REUSED`.
   */
  async start(
    name: string,
    input: unknown,
    options: StartSagaOptions = {},
    trx?: MarketkitTransaction,
  ): Promise<SagaInfo> {
    const def = this.registry.get(name);
    if (def === undefined) throw unregistered(name);
    const opts = parseInput(startOptionsSchema, options, 'saga start options');
    const parsed = parseInput(def.input, input, `saga ${name} input`);
    const now = this.#clock.now();
    const id = opts.id ?? this.#ids('saga');
    const encoded = encodeJsonInput(parsed, ['input']);
    const insert = async (t: MarketkitTransaction) => {
      const inserted = await t
        .insertInto('saga_instances')
        .values({
          id,
          name,
          status: 'running',
          step_index: 0,
          input: encoded,
          outputs: encodeJson({}),
          next_run_at: opts.runAt ?? now,
          trace_context: activeTraceparent(),
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted !== undefined) return sagaFromRow(inserted);
      const existing = sagaFromRow(
        await t.selectFrom('saga_instances').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
      );
      if (existing.name !== name || !isDeepStrictEqual(existing.input, decodeJson(encoded))) {
        throw new MarketkitError('IDEMPOTENCY_KEY_REUSED', {
          message: `Saga ${id} was already started with another name or input.`,
          details: { key: id, operation: 'sagas.start' },
        });
      }
      return existing;
    };
    return trx === undefined ? this.#storage.transaction(insert) : insert(trx);
  }

  /**
   * Starts the saga and runs it in this process right away, as far as it goes now (to the end, or until a step
   * waits for a retry), under a lease taken in the same insert: no worker round trip, no poll delay. If this
   * process dies, a worker takes the saga over once the lease expires. Resolves to how the run ended;
   * `'released'` when the id already existed (the saga is someone else's to run).
   *
   * @example
   * ```ts
   * const outcome = await sagas.run('checkout', { orderId: 'o1' }, { id: 'checkout:o1' }); // 'completed'
   * ```
   */
  async run(
    name: string,
    input: unknown,
    options: StartSagaOptions & {
      readonly leaseMs?: number;
      /**
       * When the first transaction (start + first local steps) fails, throw its error and store nothing, instead
       * of storing the saga for a worker to retry: for callers whose first step validates the request. Needs a
       * local first step.
       */
      readonly inlineOnly?: boolean;
      /** Called each time the run renews its lease, with the lease's new end (see `SagaRunControl.onRenew`). */
      readonly onRenew?: (until: number) => Promise<unknown>;
    } = {},
  ): Promise<SagaRunOutcome> {
    const def = this.registry.get(name);
    if (def === undefined) throw unregistered(name);
    const { leaseMs = 30_000, inlineOnly = false, onRenew, ...rest } = options;
    const opts = parseInput(startOptionsSchema, rest, 'saga start options');
    const parsed = parseInput(def.input, input, `saga ${name} input`);
    const now = this.#clock.now();
    const id = opts.id ?? this.#ids('saga');
    const owner = this.#ids('inline');
    const encoded = encodeJsonInput(parsed, ['input']);
    const insert = (trx: MarketkitTransaction) =>
      trx
        .insertInto('saga_instances')
        .values({
          id,
          name,
          status: 'running',
          step_index: 0,
          input: encoded,
          outputs: encodeJson({}),
          next_run_at: now + leaseMs,
          trace_context: activeTraceparent(),
          lease_owner: owner,
          lease_expires_at: now + leaseMs,
          version: 1,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
    const claimed: ClaimedSaga = {
      id,
      name,
      status: 'running',
      stepIndex: 0,
      input: decodeJson(encoded),
      outputs: {},
      attempts: 0,
      version: 1n,
    };
    const control = { owner, leaseMs, isStopping: () => false, ...(onRenew === undefined ? {} : { onRenew }) };
    if (def.steps[0]?.kind === 'local') {
      // The first transaction inserts the saga with its first steps' progress; if it fails, start the ordinary way.
      try {
        return await this.execute(claimed, {
          ...control,
          start: { id, name, input: encoded, owner, leaseMs, traceContext: activeTraceparent() },
        });
      } catch (error) {
        if (!(error instanceof InlineStartFailed)) throw error;
        if (error.cause instanceof AlreadyStarted) return 'released';
        if (inlineOnly) {
          // A step can fail on its own earlier effects (a payout's hold `exists`) before the insert finds the id
          // taken: a saga already stored under the id is someone else's to run, as above (the caller compares its
          // request with the stored one: a retry, or the id reused for another request).
          if ((await this.get(id)) !== undefined) return 'released';
          throw error.cause;
        }
      }
    } else if (inlineOnly) {
      const message = `Saga ${name} has no local first step to run inline.`;
      throw new ValidationError([{ path: ['name'], message }], message);
    }
    const inserted = await this.#storage.transaction(insert);
    if (inserted.numInsertedOrUpdatedRows === 0n) return 'released';
    return this.execute(claimed, control);
  }

  /** The saga `id`, or `undefined`. */
  async get(id: string): Promise<SagaInfo | undefined> {
    parseInput(idSchema, id, 'saga id');
    const row = await this.#storage.run((db) =>
      db.selectFrom('saga_instances').selectAll().where('id', '=', id).executeTakeFirst(),
    );
    return row === undefined ? undefined : sagaFromRow(row);
  }

  /** The saga's step log, oldest first: every finished attempt of a step or compensation. */
  async history(id: string): Promise<SagaStepEntry[]> {
    parseInput(idSchema, id, 'saga id');
    const rows = await this.#storage.run((db) =>
      db.selectFrom('saga_steps').selectAll().where('saga_id', '=', id).orderBy('id').execute(),
    );
    return rows.map(stepEntryFromRow);
  }

  /**
   * Sagas parked as `failed` (a compensation kept failing), oldest change first, for an operator: at most `limit`
   * (1 to 1000, default 100; else `VALIDATION_FAILED`).
   */
  async listFailed(options: { readonly limit?: number } = {}): Promise<SagaInfo[]> {
    const limit = parseRowLimit(options.limit === undefined ? 100 : options.limit, 1000, 'listFailed limit');
    const rows = await this.#storage.run((db) =>
      db
        .selectFrom('saga_instances')
        .selectAll()
        .where('status', '=', 'failed')
        .orderBy('updated_at')
        .orderBy('id')
        .limit(limit)
        .execute(),
    );
    return rows.map(sagaFromRow);
  }

  /**
   * Sends a `failed` saga back to compensating, from the compensation that failed, with fresh attempts; a
   * worker picks it up at once. Throws `NOT_FOUND`, or `INVALID_TRANSITION` when it is not `failed`.
   */
  async retry(id: string): Promise<SagaInfo> {
    parseInput(idSchema, id, 'saga id');
    const now = this.#clock.now();
    const row = await this.#storage.transaction((trx) =>
      changeFailedSaga(trx, id, { status: 'compensating', attempts: 0n, next_run_at: BigInt(now) }, now),
    );
    return sagaFromRow(row);
  }

  /**
   * Closes a `failed` saga as `resolved`, with the operator's note (what was done by hand). Throws `NOT_FOUND`,
   * or `INVALID_TRANSITION` when it is not `failed`.
   */
  async resolve(id: string, note: string): Promise<SagaInfo> {
    parseInput(idSchema, id, 'saga id');
    parseInput(sagaResolutionNoteSchema, note, 'resolution note');
    const now = this.#clock.now();
    const row = await this.#storage.transaction((trx) =>
      changeFailedSaga(trx, id, { status: 'resolved', resolution: note, next_run_at: null }, now),
    );
    return sagaFromRow(row);
  }

  /** Claims up to `limit` runnable sagas for `owner`. @internal used by the worker. */
  claim(owner: string, limit: number, leaseMs: number): Promise<ClaimedSaga[]> {
    return claimSagas(this.#storage, owner, limit, this.#clock.now(), leaseMs);
  }

  /**
   * Claims the saga `id` now if it is live and no lease holds it (see {@link claimSaga}). @internal used by the
   * checkout, when its caller retries.
   */
  claimOne(id: string, owner: string, leaseMs: number): Promise<ClaimedSaga | undefined> {
    return claimSaga(this.#storage, id, owner, this.#clock.now(), leaseMs);
  }

  /** Runs a claimed saga as far as it goes now. @internal used by the worker. */
  execute(claimed: ClaimedSaga, control: SagaRunControl): Promise<SagaRunOutcome> {
    return runClaimedSaga(
      { storage: this.#storage, clock: this.#clock, ids: this.#ids, registry: this.registry },
      claimed,
      control,
    );
  }
}

function unregistered(name: string): MarketkitError<'NOT_FOUND'> {
  return new MarketkitError('NOT_FOUND', {
    message: `No saga named ${name} is registered.`,
    details: { resource: 'sagaDefinition', id: name },
  });
}
