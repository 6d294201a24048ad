import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `locking/locking-tables.ts`. */
export const lockingMigration: MarketkitMigration = {
  name: '0003-locking',
  async up() {
    // filled in by the module's owner
  },
};
