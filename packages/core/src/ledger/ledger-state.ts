import type { PendingStatus } from './transfer-types.js';

/** An account row held (locked) in memory while a batch is evaluated. Balances are mutated in place. */
export interface AccountState {
  readonly id: string;
  readonly currency: string;
  readonly flags: number;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
  changed: boolean;
}

/** A stored (or just created) transfer, as the evaluator compares it. */
export interface TransferRecord {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly code: number;
  readonly reference: string | null;
  readonly userData: string | null;
  readonly flags: number;
  readonly pendingId: string | null;
  readonly timeoutSeconds: number;
  readonly createdAt: number;
}

/** The mutable status of a two-phase transfer. */
export interface PendingState {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly currency: string;
  status: PendingStatus;
  readonly expiresAt: number | null;
  resolvedById: string | null;
  /** Not yet in the database: inserted rather than updated. */
  readonly isNew: boolean;
  changed: boolean;
}

/** Everything a batch reads, loaded and locked before evaluation. */
export interface LedgerSnapshot {
  readonly accounts: Map<string, AccountState>;
  readonly transfers: Map<string, TransferRecord>;
  readonly pendings: Map<string, PendingState>;
}
