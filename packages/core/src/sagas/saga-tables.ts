import type { ColumnType } from 'kysely';
import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** Where a saga instance stands. `running` and `compensating` are live; the others are final or parked. */
export type SagaStatus = 'running' | 'compensating' | 'completed' | 'compensated' | 'failed' | 'resolved';

/**
 * Row shape of `saga_instances`: one row per saga, updated as it progresses. Every write made by a worker is
 * fenced by `version`, which grows by one on every claim (and on every operator action), never on a renewal.
 */
export interface SagaInstancesTable {
  id: string;
  /** The saga definition's name. */
  name: string;
  status: SagaStatus;
  /** Running: the next step to run. Compensating or failed: the next step whose compensation is due. */
  step_index: Int64Column;
  /** The validated input, as JSON (bigints as strings). */
  input: string;
  /** Step outputs by step name, as JSON (bigints as strings). */
  outputs: string;
  /** Failed attempts of the current step (or compensation) so far. */
  attempts: Int64DefaultColumn;
  /**
   * When a worker may next claim it, in ms since the epoch: the retry time while idle, the lease expiry while
   * claimed, `null` once final or parked (so the claim query only ever scans live sagas).
   */
  next_run_at: Int64Column | null;
  lease_owner: string | null;
  lease_expires_at: Int64DefaultColumn;
  /** Fencing token. */
  version: Int64DefaultColumn;
  /** The error that made the current step retry or the saga fail, as JSON `{ code, message }`. */
  last_error: string | null;
  /** The operator's note when resolved by hand. */
  resolution: string | null;
  created_at: Int64Column;
  updated_at: Int64Column;
  /** The W3C `traceparent` of the span that started it, or null (tracing off); step spans link to it. */
  trace_context: ColumnType<string | null, string | null | undefined, string | null>;
}

/**
 * What an entry of the step log records. `waiting`: the step could not complete yet and was rescheduled without
 * counting an attempt (see `StepNotReady`).
 */
export type SagaStepOutcome = 'completed' | 'retrying' | 'waiting' | 'failed';

/** Row shape of the append-only `saga_steps` log: one row per finished attempt of a step or compensation. */
export interface SagaStepsTable {
  id: string;
  saga_id: string;
  step_index: Int64Column;
  step_name: string;
  phase: 'run' | 'compensate';
  outcome: SagaStepOutcome;
  /** 1 for the first attempt. */
  attempt: Int64Column;
  /** The output (completed) or the error (otherwise), as JSON. */
  detail: string | null;
  /** Worker that wrote the entry. */
  worker: string;
  created_at: Int64Column;
}

/** Tables of the sagas module, by logical (unprefixed) name. */
export interface SagaTables {
  saga_instances: SagaInstancesTable;
  saga_steps: SagaStepsTable;
}

/**
 * Logical names of the tables above, and of the step log's copy while migration 0010 rebuilds it; the table
 * prefix applies to exactly these.
 */
export const SAGA_TABLE_NAMES: readonly string[] = ['saga_instances', 'saga_steps', 'saga_steps_rebuild'];
