import type { MarketkitMigration } from '../migration-context.js';
import { tableExists } from './0015-tenants.js';

/** The tables whose rows a worker picks up later, as they were before this migration. */
const TABLES = ['outbox_events', 'saga_instances'] as const;

/**
 * A nullable `trace_context` column (a W3C `traceparent`) on the rows a worker picks up later (outbox events, saga
 * instances): the span of the request that wrote them, so the worker's span links to it. Null where tracing was off.
 * Adding a nullable column changes no key or index, so it is the same statement on both databases.
 */
export const traceContextMigration: MarketkitMigration = {
  name: '0016-trace-context',
  async up(db, ctx) {
    for (const table of TABLES) {
      if (!(await tableExists(db, ctx, `${ctx.prefix}${table}`))) continue;
      await db.schema.alterTable(table).addColumn('trace_context', 'text').execute();
    }
  },
};
