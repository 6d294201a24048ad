import type { Marketplace } from '@marketkit/core';
import type { RequestHandler } from 'express';
import { sendProblem } from '../http-answers.js';
import { problem } from '../problem.js';

/** Options of `/readyz` (`marketkitRouter(market, { readiness })`). */
export interface ReadinessOptions {
  /**
   * Largest age, in milliseconds, of the oldest outbox event not yet delivered (see
   * `market.events.oldestUndeliveredAgeMs()`) before the process reports not ready. Default 60 000; `false` skips
   * the check (a process that runs no worker and trusts others to).
   */
  readonly maxOutboxLagMs?: number | false;
}

/** What `/readyz` answers, 200 when `status` is `ready`, 503 otherwise. */
export interface ReadinessReport {
  readonly status: 'ready' | 'not ready';
  /** Migrations the code has and the database has not run. */
  readonly pendingMigrations: readonly string[];
  /** Age of the oldest undelivered outbox event, `null` when none waits (or the check is off). */
  readonly outboxLagMs: number | null;
}

const DEFAULT_MAX_OUTBOX_LAG_MS = 60_000;

/**
 * `/readyz`: 200 `{ status: 'ready', … }` when the database answers, every migration has run and the outbox lag is
 * under the bound; 503 `{ status: 'not ready', … }` when migrations are pending or the lag is over; a 503
 * `CONNECTION_LOST` problem when the database cannot be read.
 */
export function readinessHandler(market: Marketplace, options: ReadinessOptions = {}): RequestHandler {
  const maxLag = options.maxOutboxLagMs ?? DEFAULT_MAX_OUTBOX_LAG_MS;
  return (_req, res) => {
    readiness(market, maxLag).then(
      (report) => res.status(report.status === 'ready' ? 200 : 503).json(report),
      () => sendProblem(res, problem('CONNECTION_LOST', 'The database is not reachable.')),
    );
  };
}

async function readiness(market: Marketplace, maxLag: number | false): Promise<ReadinessReport> {
  const { pending } = await market.migrationStatus();
  const lag = pending.length > 0 || maxLag === false ? undefined : await market.events.oldestUndeliveredAgeMs();
  const ready = pending.length === 0 && (maxLag === false || lag === undefined || lag <= maxLag);
  return { status: ready ? 'ready' : 'not ready', pendingMigrations: pending, outboxLagMs: lag ?? null };
}
