import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `idempotency/idempotency-tables.ts`. */
export const idempotencyMigration: MarketkitMigration = {
  name: '0006-idempotency',
  async up() {
    // filled in by the module's owner
  },
};
