import type { SagaStatus, SagaStepOutcome } from './saga-tables.js';

/** A saga instance as stored, for callers and operators. */
export interface SagaInfo {
  readonly id: string;
  readonly name: string;
  readonly status: SagaStatus;
  /** Running: the next step to run; compensating or failed: the next step to compensate (-1: none left). */
  readonly stepIndex: number;
  readonly input: unknown;
  /** Step outputs by step name (bigints as strings). */
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly attempts: number;
  readonly nextRunAt: number | null;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number;
  /** The fencing token. */
  readonly version: bigint;
  readonly lastError: { readonly code: string; readonly message: string; readonly details?: unknown } | null;
  readonly resolution: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One entry of a saga's append-only step log. */
export interface SagaStepEntry {
  readonly id: string;
  readonly sagaId: string;
  readonly stepIndex: number;
  readonly stepName: string;
  readonly phase: 'run' | 'compensate';
  readonly outcome: SagaStepOutcome;
  readonly attempt: number;
  readonly detail: unknown;
  readonly worker: string;
  readonly createdAt: number;
}

/** Options of `sagas.start`. */
export interface StartSagaOptions {
  /** The saga's id; starting again with the same id (and the same name and input) returns the existing saga. */
  readonly id?: string;
  /** When a worker may first run it, ms since the epoch. Default now. */
  readonly runAt?: number;
}
