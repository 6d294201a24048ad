import type { ProcessDefinition } from './process-definition.js';

/** How long a checkout holds its stock when the process has no timed way out of its initial state. */
const DEFAULT_RESERVATION_MS = 15 * 60 * 1000;

/**
 * How long an order awaits payment before its reservation expires: the process's timed transition out of its
 * initial state (`expireReservation` in `purchaseProcess()`), else 15 minutes. The checkout reserves stock for this
 * long, and reconciliation treats an authorization still open after it as left open.
 */
export function reservationWindowMs(process: ProcessDefinition): number {
  const leaves = (from: string | readonly string[]) =>
    typeof from === 'string' ? from === process.initial : from.includes(process.initial);
  return process.transitions.find((t) => t.afterMs !== undefined && leaves(t.from))?.afterMs ?? DEFAULT_RESERVATION_MS;
}
