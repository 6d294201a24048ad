/** What runs a statement on one database: a pg pool or client. */
export interface SqlRunner {
  query(sql: string): Promise<unknown>;
}

/**
 * Runs `ANALYZE` on each database, in turn: statistics of what a warm-up wrote, as autovacuum's analyze would give
 * them on a server that runs it (this machine's runs with `autovacuum = off`). Without them every side's cached
 * plans are made for empty tables, where PostgreSQL may read a unique key's row through another index of the tenant
 * (the checkout's order-id check walked `mk_orders_seller_idx`, every order of the tenant per checkout): statements
 * that grow slower as the run writes rows. Call it between the warm-up and the measured rounds.
 */
export async function analyzeDatabases(...databases: readonly SqlRunner[]): Promise<void> {
  for (const db of databases) await db.query('analyze');
}
