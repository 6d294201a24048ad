/**
 * The saga engine's hot writes as statement templates: compiled once per shape, then only bound, because every
 * step of every saga sends one. Where the backend has data-modifying CTEs (PostgreSQL, where each statement is a
 * network round trip) the progress write and the step-log insert are one statement; elsewhere (SQLite) two.
 */
import { type RawBuilder, sql } from 'kysely';
import { MarketkitError } from '../errors/marketkit-error.js';
import { encodeJson } from '../jobs/json-column.js';
import { ParamNames } from '../storage/param-names.js';
import type { ParamRef, StatementRunner } from '../storage/statement-template.js';
import type { Storage } from '../storage/storage.js';
import type { SagaProgress, SagaStart, StepLogRow } from './saga-store.js';
import type { SagaStepsTable } from './saga-tables.js';

/** The step log's columns, in the order {@link logRows} lists them. @internal */
export const STEP_COLUMNS = [
  'id',
  'saga_id',
  'step_index',
  'step_name',
  'phase',
  'outcome',
  'attempt',
  'detail',
  'worker',
  'created_at',
] as const satisfies readonly (keyof SagaStepsTable)[];

type Values = Record<string, unknown>;

/** The shape of a progress write: which optional columns it sets. @internal */
export function shapeOf(p: SagaProgress): string {
  const shapes = p.lease === 'keep' ? KEEP_SHAPES : RELEASE_SHAPES;
  return p.lastError === undefined ? shapes[0] : shapes[1];
}
// Constant strings: a shape names a cached template, and a key spelled anew per call costs a hash per lookup.
const KEEP_SHAPES = ['keep:error-kept', 'keep:error-set'] as const;
const RELEASE_SHAPES = ['release:error-kept', 'release:error-set'] as const;

/** The `SET` of a progress write, as parameters. @internal */
export function progressSet(p: ParamRef, shape: string) {
  return {
    status: p('status'),
    step_index: p('step_index'),
    outputs: p('outputs'),
    attempts: p('attempts'),
    updated_at: p('now'),
    ...(shape.endsWith('error-set') ? { last_error: p('last_error') } : {}),
    ...(shape.startsWith('release')
      ? { next_run_at: p('next_run_at'), lease_owner: p('lease_owner'), lease_expires_at: p('lease_expires_at') }
      : {}),
  };
}

/** Parameter names of a progress write and of a saga's insert, under a CTE's prefix. @internal */
export const SAGA_PARAM_NAMES = new ParamNames(
  [
    'status',
    'step_index',
    'outputs',
    'attempts',
    'now',
    'last_error',
    'next_run_at',
    'lease_owner',
    'lease_expires_at',
    'id',
    'name',
    'input',
    'version',
    'saga_id',
    'trace_context',
  ] as const,
  (pre, _row, column) => `${pre}${column}`,
);

/** The values of {@link progressSet}, named with `pre` in front (a CTE's prefix). @internal */
export function progressValues(p: SagaProgress, now: number, into: Values, pre = ''): Values {
  const k = SAGA_PARAM_NAMES.of(pre);
  into[k.status] = p.status;
  into[k.step_index] = p.stepIndex;
  into[k.outputs] = encodeJson(p.outputs);
  into[k.attempts] = p.attempts;
  into[k.now] = now;
  if (p.lastError !== undefined) into[k.last_error] = p.lastError === null ? null : encodeJson(p.lastError);
  if (p.lease !== 'keep') {
    into[k.next_run_at] = p.lease.nextRunAt;
    into[k.lease_owner] = null;
    into[k.lease_expires_at] = 0;
  }
  return into;
}

/**
 * `(values (…), …) as v (columns)` with `n` rows of parameters `l<i>_<column>`, typed for a `SELECT` from it.
 * @internal
 */
export function logRows(storage: Storage, p: ParamRef, n: number): RawBuilder<unknown> {
  const int64 = sql.raw(storage.adapter.columnTypes.int64);
  const json = sql.raw(storage.adapter.columnTypes.json);
  const rows = Array.from({ length: n }, (_, i) => {
    const c = (name: string) => p(`l${i}_${name}`);
    return sql`(${c('id')}, ${p('saga_id')}, cast(${c('step_index')} as ${int64}), ${c('step_name')}, ${c('phase')}, ${c('outcome')}, cast(${c('attempt')} as ${int64}), cast(${c('detail')} as ${json}), ${c('worker')}, cast(${p('now')} as ${int64}))`;
  });
  return sql`(values ${sql.join(rows)}) as v (${sql.join(STEP_COLUMNS.map((c) => sql.id(c)))})`;
}

/** Parameter names of the step log's rows, `<pre>l<row>_<column>` ({@link logRows}). */
const LOG_NAMES = new ParamNames(
  ['id', 'step_index', 'step_name', 'phase', 'outcome', 'attempt', 'detail', 'worker'] as const,
  (pre, row, column) => `${pre}l${row}_${column}`,
);

/** The values of {@link logRows}, named with `pre` in front (a CTE's prefix). @internal */
export function logValues(sagaId: string, log: readonly StepLogRow[], into: Values, pre = ''): Values {
  into[SAGA_PARAM_NAMES.of(pre).saga_id] = sagaId;
  for (let i = 0; i < log.length; i++) {
    const { id, entry: e } = log[i]!;
    const k = LOG_NAMES.of(pre, i);
    into[k.id] = id;
    into[k.step_index] = e.stepIndex;
    into[k.step_name] = e.stepName;
    into[k.phase] = e.phase;
    into[k.outcome] = e.outcome;
    into[k.attempt] = e.attempt;
    into[k.detail] = e.detail === undefined ? null : encodeJson(e.detail);
    into[k.worker] = e.worker;
  }
  return into;
}

/** Appends entries to the step log, in one statement. */
export async function appendStepLog(
  trx: StatementRunner,
  storage: Storage,
  sagaId: string,
  log: readonly StepLogRow[],
  now: number,
): Promise<void> {
  if (log.length === 0) return;
  const t = storage.templates.get(`saga.log:${log.length}`, (db, p) =>
    db.insertInto('saga_steps').values(
      Array.from({ length: log.length }, (_, i) => ({
        id: p(`l${i}_id`),
        saga_id: p('saga_id'),
        step_index: p(`l${i}_step_index`),
        step_name: p(`l${i}_step_name`),
        phase: p(`l${i}_phase`),
        outcome: p(`l${i}_outcome`),
        attempt: p(`l${i}_attempt`),
        detail: p(`l${i}_detail`),
        worker: p(`l${i}_worker`),
        created_at: p('now'),
      })),
    ),
  );
  await trx.executeQuery(t.bind(logValues(sagaId, log, { now })));
}

/**
 * The fenced progress write: updates the saga only while its fencing token is still `version`. Throws
 * `LEASE_LOST` (so the enclosing transaction, with the step's own writes, rolls back) when another worker took
 * the saga over or an operator changed it.
 */
export async function writeProgress(
  trx: StatementRunner,
  storage: Storage,
  id: string,
  version: bigint,
  p: SagaProgress,
  now: number,
): Promise<void> {
  const shape = shapeOf(p);
  const t = storage.templates.get(`saga.progress:${shape}`, (db, ref) =>
    db
      .updateTable('saga_instances')
      .set(progressSet(ref, shape))
      .where('id', '=', ref('id'))
      .where('version', '=', ref('version')),
  );
  const result = await trx.executeQuery(t.bind(progressValues(p, now, { id, version })));
  if (result.numAffectedRows === 0n) throw sagaLeaseLost(id, version);
}

/**
 * The fenced progress write and the step-log entries of the same commit, with the guarantees of
 * {@link writeProgress} followed by {@link appendStepLog}: nothing is logged unless the fence holds, and a lost
 * fence throws `LEASE_LOST`. With data-modifying CTEs one statement: the fenced `UPDATE … RETURNING` feeds the
 * `INSERT … SELECT` of the entries, so a lost fence inserts no row, which the row count reports.
 */
export async function writeProgressAndLog(
  trx: StatementRunner,
  storage: Storage,
  id: string,
  version: bigint,
  p: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Promise<void> {
  if (log.length === 0 || !storage.adapter.capabilities.writableCtes) {
    await writeProgress(trx, storage, id, version, p, now);
    await appendStepLog(trx, storage, id, log, now);
    return;
  }
  const shape = shapeOf(p);
  const t = storage.templates.get(`saga.progress+log:${shape}:${log.length}`, (db, ref) =>
    db
      .with('p', (d) =>
        d
          .updateTable('saga_instances')
          .set(progressSet(ref, shape))
          .where('id', '=', ref('id'))
          .where('version', '=', ref('version'))
          .returning('id'),
      )
      .insertInto('saga_steps')
      .columns(STEP_COLUMNS)
      .expression(sql`select v.* from p cross join ${logRows(storage, ref, log.length)}`),
  );
  const result = await trx.executeQuery(t.bind(logValues(id, log, progressValues(p, now, { id, version }))));
  if (result.numAffectedRows !== BigInt(log.length)) throw sagaLeaseLost(id, version);
}

/**
 * Inserts a new saga with the progress its first transaction made, under `start.owner`'s lease (fencing token 1),
 * and appends the step-log entries of that transaction. Returns false, writing nothing, when a saga with that id
 * exists already. With data-modifying CTEs one statement (the insert's `RETURNING` feeds the log insert, so an
 * existing id inserts no entry); elsewhere the insert, then the log.
 */
export async function insertProgressAndLog(
  trx: StatementRunner,
  storage: Storage,
  start: SagaStart,
  p: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Promise<boolean> {
  const values = startValues(start, p, now);
  if (log.length === 0 || !storage.adapter.capabilities.writableCtes) {
    const t = storage.templates.get('saga.insert', (db, ref) =>
      db
        .insertInto('saga_instances')
        .values(startRow(ref))
        .onConflict((oc) => oc.column('id').doNothing()),
    );
    const inserted = await trx.executeQuery(t.bind(values));
    if (inserted.numAffectedRows === 0n) return false;
    await appendStepLog(trx, storage, start.id, log, now);
    return true;
  }
  const t = storage.templates.get(`saga.insert+log:${log.length}`, (db, ref) =>
    db
      .with('s', (d) =>
        d
          .insertInto('saga_instances')
          .values(startRow(ref))
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id'),
      )
      .insertInto('saga_steps')
      .columns(STEP_COLUMNS)
      .expression(sql`select v.* from s cross join ${logRows(storage, ref, log.length)}`),
  );
  const result = await trx.executeQuery(t.bind(logValues(start.id, log, values)));
  return result.numAffectedRows === BigInt(log.length);
}

/** The columns of a saga's insert with its first progress, as parameters ({@link startValues}). @internal */
export function startRow(ref: ParamRef) {
  return {
    id: ref('id'),
    name: ref('name'),
    status: ref('status'),
    step_index: ref('step_index'),
    input: ref('input'),
    outputs: ref('outputs'),
    attempts: ref('attempts'),
    last_error: ref('last_error'),
    next_run_at: ref('next_run_at'),
    lease_owner: ref('lease_owner'),
    lease_expires_at: ref('lease_expires_at'),
    version: ref('version'),
    created_at: ref('now'),
    updated_at: ref('now'),
    trace_context: ref('trace_context'),
  };
}

/**
 * The values of {@link startRow}: the saga `start` under its owner's lease (fencing token 1), moved on by `p`;
 * named with `pre` in front (a CTE's prefix). @internal
 */
export function startValues(start: SagaStart, p: SagaProgress, now: number, into: Values = {}, pre = ''): Values {
  const keep = p.lease === 'keep';
  const k = SAGA_PARAM_NAMES.of(pre);
  progressValues(p, now, into, pre);
  into[k.id] = start.id;
  into[k.name] = start.name;
  into[k.input] = start.input;
  into[k.next_run_at] = keep ? now + start.leaseMs : (p.lease as { nextRunAt: number | null }).nextRunAt;
  into[k.lease_owner] = keep ? start.owner : null;
  into[k.lease_expires_at] = keep ? now + start.leaseMs : 0;
  into[k.last_error] = p.lastError === undefined || p.lastError === null ? null : encodeJson(p.lastError);
  into[k.version] = 1;
  into[k.trace_context] = start.traceContext ?? null;
  return into;
}

/** `LEASE_LOST` for the saga `id` whose fencing token `version` no longer holds. @internal */
export function sagaLeaseLost(id: string, version: bigint): MarketkitError {
  return new MarketkitError('LEASE_LOST', {
    message: `Saga ${id}: the lease with fencing token ${version} was taken over; the step does not commit.`,
    details: { resource: 'saga', id, fence: String(version) },
  });
}
