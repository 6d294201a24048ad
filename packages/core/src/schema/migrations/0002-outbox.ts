import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `events/outbox-tables.ts`. */
export const outboxMigration: MarketkitMigration = {
  name: '0002-outbox',
  async up() {
    // filled in by the module's owner
  },
};
