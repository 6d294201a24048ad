import type { MarketkitMigration } from '../migration-context.js';

/** Creates the tables declared in `sagas/saga-tables.ts`. */
export const sagasMigration: MarketkitMigration = {
  name: '0005-sagas',
  async up() {
    // filled in by the module's owner
  },
};
