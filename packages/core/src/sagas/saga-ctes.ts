/**
 * A saga's writes as CTEs of a caller's own one-statement transaction ({@link CheckedStatement}, PostgreSQL): the
 * same rows {@link insertProgressAndLog} and {@link writeProgressAndLog} write, so code that compiles a whole saga
 * step into one statement (the checkout) records the saga's progress in it without another round trip. Names of
 * the CTEs and of the values start with the shape's `name`, so they cannot clash with the caller's.
 */
import { type RawBuilder, sql } from 'kysely';
import type { CommitWrite } from '../storage/commit-writes.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { Storage } from '../storage/storage.js';
import { TENANT } from '../storage/tenant-plugin.js';
import {
  logRows,
  logValues,
  progressSet,
  progressValues,
  SAGA_PARAM_NAMES,
  STEP_COLUMNS,
  sagaLeaseLost,
  shapeOf,
  startRow,
  startValues,
} from './saga-statements.js';
import type { SagaProgress, SagaStart, StepLogRow } from './saga-store.js';

type Values = Record<string, unknown>;

/** Where a saga write sits in a statement: the CTE's name (also the values' prefix) and how many log entries. */
export interface SagaCteShape {
  readonly name: string;
  readonly logEntries: number;
}

const INT64_COLUMNS = new Set(['step_index', 'attempts', 'next_run_at', 'lease_expires_at', 'version', 'created_at']);
const JSON_COLUMNS = new Set(['input', 'outputs']);

/**
 * `<name>` inserts the saga once per row of the relation `from` (none when it is empty) and returns its id;
 * `<name>_log` appends the step-log entries once it did. Bind {@link sagaInsertValues} with the same name.
 */
export function sagaInsertCtes(
  p: ParamRef,
  storage: Storage,
  shape: SagaCteShape & { readonly from: string },
): RawBuilder<unknown>[] {
  const q = prefixed(p, shape.name);
  const types = storage.adapter.columnTypes;
  const row = Object.entries(startRow(q)).map(([column, value]) => {
    const type = INT64_COLUMNS.has(column) || column === 'updated_at' ? types.int64 : undefined;
    const cast = type ?? (JSON_COLUMNS.has(column) ? types.json : 'text');
    return { column, value: sql`cast(${value} as ${sql.raw(cast)})` };
  });
  return [
    sql`${sql.id(shape.name)} as (
      insert into ${sql.table('saga_instances')} (tenant, ${sql.join(row.map((r) => sql.id(r.column)))})
      select ${TENANT}, ${sql.join(row.map((r) => r.value))} from ${sql.id(shape.from)}
      returning id)`,
    logCte(q, storage, shape),
  ];
}

/** The values of {@link sagaInsertCtes}: `start`, already moved on by `progress`, and its step-log entries. */
export function sagaInsertValues(
  name: string,
  start: SagaStart,
  progress: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Values {
  const pre = `${name}_`;
  return logValues(start.id, log, startValues(start, progress, now, {}, pre), pre);
}

/**
 * `<name>` is the fenced progress write of the saga (it updates the row only while its fencing token is the bound
 * `version`, and returns its id); `<name>_log` appends the step-log entries when it did. Check
 * `(select count(*) from <name>) = 1` to roll the statement back when the fence failed. `progress` gives the
 * shape of the write (which columns it sets); bind {@link sagaProgressValues} with a progress of the same shape.
 */
export function sagaProgressCtes(
  p: ParamRef,
  storage: Storage,
  shape: SagaCteShape & { readonly progress: SagaProgress },
): RawBuilder<unknown>[] {
  const q = prefixed(p, shape.name);
  const set = Object.entries(progressSet(q, shapeOf(shape.progress))).map(
    ([column, value]) => sql`${sql.id(column)} = ${value}`,
  );
  return [
    sql`${sql.id(shape.name)} as (
      update ${sql.table('saga_instances')} set ${sql.join(set)}
      where tenant = ${TENANT} and id = ${q('id')} and version = cast(${q('version')} as ${sql.raw(storage.adapter.columnTypes.int64)})
      returning id)`,
    logCte(q, storage, shape),
  ];
}

/** The values of {@link sagaProgressCtes}. */
export function sagaProgressValues(
  name: string,
  id: string,
  version: bigint,
  progress: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
): Values {
  const pre = `${name}_`;
  const k = SAGA_PARAM_NAMES.of(pre);
  return logValues(id, log, progressValues(progress, now, { [k.id]: id, [k.version]: version }, pre), pre);
}

function logCte(q: ParamRef, storage: Storage, shape: SagaCteShape): RawBuilder<unknown> {
  return sql`${sql.id(`${shape.name}_log`)} as (
    insert into ${sql.table('saga_steps')} (tenant, ${sql.join(STEP_COLUMNS.map((c) => sql.id(c)))})
    select ${TENANT}, v.* from ${sql.id(shape.name)} cross join ${logRows(storage, q, shape.logEntries)})`;
}

function prefixed(p: ParamRef, name: string): ParamRef {
  return (n) => p(`${name}_${n}`);
}

/** What the fenced write of {@link fencedCommitWrite} raises when its fence matched no row. */
const FENCE_LOST_MARKER = 'marketkit saga fence lost: ';

/**
 * The fenced progress write and step-log entries of `writeProgressAndLog`, as a write queued for the transaction's
 * commit (`Storage.onCommit`), whose row count nobody reads: so the statement itself raises an error when the
 * fence (`version`) matched no row, which aborts the transaction, and the step's own writes roll back with it.
 * `error` turns that error into `LEASE_LOST` (after calling `lost`). Needs data-modifying CTEs (PostgreSQL).
 */
export function fencedCommitWrite(
  storage: Storage,
  id: string,
  version: bigint,
  progress: SagaProgress,
  log: readonly StepLogRow[],
  now: number,
  lost: () => void,
): CommitWrite {
  const t = storage.templates.get(`saga.progress+log-fenced:${shapeOf(progress)}:${log.length}`, (db, ref) => {
    const [update, logged] = sagaProgressCtes(ref, storage, { name: 'p', logEntries: log.length, progress });
    // The raising branch depends on p, so the planner cannot fold it into an error before the update ran.
    const statement = sql`with ${log.length === 0 ? update : sql.join([update!, logged!])}
      select case when (select count(*) from p) = 1 then 'ok'
        else cast(${sql.lit(FENCE_LOST_MARKER)} || (select count(*) from p) as integer)::text end as mk_fence`;
    return { compile: () => statement.compile(db) };
  });
  return {
    query: t.bind(sagaProgressValues('p', id, version, progress, log, now)),
    error: (error) => {
      if (!messageHas(error, FENCE_LOST_MARKER)) return error;
      lost();
      return sagaLeaseLost(id, version);
    },
  };
}

/** True when `error`, or an error it was caused by, has `marker` in its message. */
function messageHas(error: unknown, marker: string): boolean {
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message.includes(marker)) return true;
  }
  return false;
}
