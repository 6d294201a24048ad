import type { Int64Column, Int64DefaultColumn } from '../ledger/ledger-tables.js';

/** Where a scheduled job stands. */
export type JobStatus = 'pending' | 'completed' | 'failed';

/**
 * Row shape of `jobs`: durable timers. A job is claimed under a lease like a saga; `version` is its fencing
 * token (one more on every claim), so only the current holder can complete it.
 */
export interface JobsTable {
  id: string;
  kind: string;
  /** The payload as JSON (bigints as strings). */
  payload: string;
  status: JobStatus;
  /** When it was first due, ms since the epoch. */
  run_at: Int64Column;
  /** When a worker may next claim it: the due or retry time while idle, the lease expiry while claimed; `null` once done. */
  next_run_at: Int64Column | null;
  /** Unique when set: scheduling a second job with the same key returns the first. */
  dedupe_key: string | null;
  attempts: Int64DefaultColumn;
  lease_owner: string | null;
  lease_expires_at: Int64DefaultColumn;
  version: Int64DefaultColumn;
  last_error: string | null;
  created_at: Int64Column;
  updated_at: Int64Column;
}

/** Tables of the durable timers (scheduled jobs), by logical (unprefixed) name. */
export interface JobTables {
  jobs: JobsTable;
}

/** Logical names of the tables above; the table prefix applies to exactly these. */
export const JOB_TABLE_NAMES: readonly string[] = ['jobs'];
