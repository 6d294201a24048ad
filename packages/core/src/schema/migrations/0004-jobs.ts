import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `jobs/job-tables.ts`. */
export const jobsMigration: MarketkitMigration = {
  name: '0004-jobs',
  async up() {
    // filled in by the module's owner
  },
};
