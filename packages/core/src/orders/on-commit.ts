import type { Kysely, OperationNodeSource } from 'kysely';
import type { MarketkitDatabase } from '../schema/database.js';
import type { ParamRef } from '../storage/statement-template.js';
import type { MarketkitTransaction } from '../storage/storage.js';
import type { Order } from './order-types.js';

/** Called inside the last commit of an operation with the order as it commits (records its idempotency key there). */
export type OnCommit = ((trx: MarketkitTransaction, order: Order) => Promise<void>) & {
  /**
   * The same write for an operation whose last commit is one statement (or templated steps): its query, which
   * returns one row when it recorded the key (`rowless`: returns nothing, its affected row count tells), and its
   * values.
   */
  readonly statement: {
    readonly query: (p: ParamRef, rowless?: boolean, db?: Kysely<MarketkitDatabase>) => OperationNodeSource;
    readonly values: (order: Order) => Record<string, unknown>;
  };
  /** Tells that such a statement committed with `order` recorded. */
  readonly committed: (order: Order) => void;
  /**
   * Extends the idempotency key's lock to `until` (the lease of the work it guards was renewed); false when the key
   * is no longer held.
   */
  readonly renew: (until: number) => Promise<boolean>;
};
