import type { Clock } from '../clock/clock.js';
import type { OutboxEventInput } from '../events/event-types.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { TransferRecord } from './ledger-state.js';

/** Called with the transfers a batch created, inside its transaction (the outbox hooks in here). */
export type TransfersCreatedHook = (trx: MarketkitTransaction, created: readonly TransferRecord[]) => Promise<void>;

/** What a batch does with the transfers it created, inside its transaction. */
export interface CreatedTransfersOutput {
  /** Called with them after the batch's writes. */
  readonly hook: TransfersCreatedHook;
  /**
   * The one outbox event `hook` writes per created transfer, when that is all it does: on a backend that binds a JS
   * array as one parameter and runs data-modifying CTEs (PostgreSQL), the batch then writes those events itself, in
   * its one write statement (`outbox-arrays.ts`), and `hook` is not called. The events' ids come from `clock`'s
   * writers, their payloads are stored as `jsonType`.
   */
  readonly event?: {
    readonly of: (t: TransferRecord) => OutboxEventInput;
    readonly clock: Clock;
    readonly jsonType: string;
  };
}
