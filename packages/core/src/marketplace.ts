import { z } from 'zod';
import { type Clock, systemClock } from './clock/clock.js';
import { parseInput } from './errors/validation-error.js';
import { createIdFactory } from './ids/id-factory.js';
import { Ledger } from './ledger/ledger.js';
import { Listings, type ListingsOptions } from './listings/listings.js';
import { Leases } from './locking/leases.js';
import { type MigrateResult, migrate } from './schema/migrate.js';
import { Storage } from './storage/storage.js';
import type { StorageAdapter } from './storage/storage-adapter.js';

/** Options of {@link createMarketplace}. */
export interface MarketplaceOptions {
  /** The database backend, e.g. `sqliteAdapter({ filename })` or `postgresAdapter({ connectionString })`. */
  readonly adapter: StorageAdapter;
  /** Prefix of every table Marketkit creates. Default `mk_`. */
  readonly tablePrefix?: string;
  /** PostgreSQL schema for Marketkit's tables. */
  readonly schema?: string;
  /** Where time comes from. Default: the system clock. */
  readonly clock?: Clock;
  /** Listings options, e.g. the stock strategy. */
  readonly listings?: ListingsOptions;
}

/** One embedded Marketkit instance. Create as many as you like; none shares state with another. */
export interface Marketplace {
  readonly ledger: Ledger;
  readonly listings: Listings;
  /** Leases with fencing tokens for singleton work. */
  readonly leases: Leases;
  /** Creates or upgrades Marketkit's tables. Safe to call from several processes at once. */
  migrate(): Promise<MigrateResult>;
  /** Closes the database connections. */
  close(): Promise<void>;
}

const optionsSchema = z.looseObject({
  adapter: z.custom<StorageAdapter>(
    (v) => typeof v === 'object' && v !== null && 'dialect' in v && 'classifyError' in v,
    'must be a StorageAdapter',
  ),
  clock: z.custom<Clock>((v) => typeof (v as Clock | undefined)?.now === 'function', 'must have now()').optional(),
});

/**
 * The one entry point: wires storage, the ledger and (in later versions) the other modules.
 *
 * @example
 * ```ts
 * import { createMarketplace } from '@marketkit/core';
 * import { sqliteAdapter } from '@marketkit/adapters/sqlite';
 *
 * const market = createMarketplace({ adapter: sqliteAdapter({ filename: 'market.db' }) });
 * await market.migrate();
 * await market.ledger.createAccounts([{ id: 'platform', currency: 'USD', code: 1 }]);
 * await market.close();
 * ```
 */
export function createMarketplace(options: MarketplaceOptions): Marketplace {
  parseInput(optionsSchema, options, 'marketplace options');
  const storage = new Storage(options.adapter, {
    ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  });
  const clock = options.clock ?? systemClock;
  const ids = createIdFactory();
  return Object.freeze({
    ledger: new Ledger(storage, clock),
    listings: new Listings(storage, clock, ids, options.listings),
    leases: new Leases(storage, clock),
    migrate: () => migrate(storage),
    close: () => storage.destroy(),
  });
}
