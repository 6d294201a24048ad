import { sqliteAdapter } from '@marketkit/adapters/sqlite';
import {
  createMarketplace,
  type Logger,
  type Marketplace,
  Money,
  type PaymentProvider,
  type Worker,
} from '@marketkit/core';
import { SandboxPaymentProvider } from '@marketkit/testing';
import Database from 'better-sqlite3';
import { DatabaseImage } from './database-image.js';
import { ProcessLife } from './process-life.js';
import { ResettableClock } from './simulation-clock.js';
import type { SimulationContext, SimulationOptions } from './simulation-types.js';

/** The simulation's listing and seller. @internal */
export const SIM_LISTING = 'sim-listing';
/** @internal */
export const SIM_SELLER = 'seller-1';

const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/** A virtual worker process: its marketplace and the life that can end it. */
interface Process {
  readonly life: ProcessLife;
  readonly market: Marketplace;
  /** Its worker: one saga and one job a round, so no two transactions of a round share the connection at once. */
  readonly worker: Worker;
}

/**
 * What outlives a run: the one in-memory SQLite connection (migrated once, reset to its image before each run),
 * the clock (rewound), and the worker processes that did not crash, kept for later runs so that each run does
 * not pay for building marketplaces. A process that crashed is never used again. Every run gets a new sandbox
 * provider, which the processes reach through one forwarding provider.
 * @internal
 */
export class SimulationEngine {
  readonly clock = new ResettableClock();
  readonly auditor: Marketplace;
  /** The auditor's worker, which settles every run. */
  readonly settler: Worker;
  readonly #db: Database.Database;
  readonly #options: NonNullable<SimulationOptions['marketplace']>;
  readonly #prefix: string;
  readonly #pool: Process[] = [];
  readonly #statements = new Map<string, Database.Statement>();
  #image: DatabaseImage | undefined;
  #psp = new SandboxPaymentProvider({ clock: this.clock });
  readonly #provider: PaymentProvider;
  #started = 0;

  private constructor(options: SimulationOptions) {
    this.#db = new Database(':memory:');
    this.#options = options.marketplace ?? {};
    this.#prefix = this.#options.tablePrefix ?? 'mk_';
    this.#provider = forwarding(() => this.#psp);
    this.auditor = this.#open(undefined);
    this.settler = this.auditor.worker({ concurrency: 1 });
  }

  /** Migrates the database, makes the listing, runs `setup`, and takes the image every run starts from. */
  static async create(options: SimulationOptions): Promise<SimulationEngine> {
    const engine = new SimulationEngine(options);
    const market = engine.auditor;
    await market.migrate();
    await market.listings.create({
      id: SIM_LISTING,
      sellerId: SIM_SELLER,
      title: 'Simulated lamp',
      price: Money.fromMinor(25_00n, 'USD'),
      quantity: 6,
    });
    await market.payouts.setDestination({ sellerId: SIM_SELLER, destination: 'ba_sim' });
    await options.setup?.(market);
    engine.#image = new DatabaseImage(engine.#db, engine.#prefix);
    return engine;
  }

  /** Starts a run: the database as imaged, the clock at the start, a new provider, `workers` processes. */
  run(workers: number): SimulationWorld {
    if (this.#image === undefined) throw new Error('SimulationEngine: run before create');
    this.#image.restore();
    this.clock.reset();
    this.#psp = new SandboxPaymentProvider({ clock: this.clock });
    return new SimulationWorld(this, workers);
  }

  /** The run's provider. */
  get provider(): SandboxPaymentProvider {
    return this.#psp;
  }

  /** A live process: one kept from an earlier run, or a new one. */
  take(): Process {
    const kept = this.#pool.pop();
    if (kept !== undefined) return kept;
    const life = new ProcessLife(`p${++this.#started}`);
    const market = this.#open(life);
    return { life, market, worker: market.worker({ concurrency: 1 }) };
  }

  /**
   * Keeps a process that is still alive for the next run, without the relay leases it kept: the next run rewinds the
   * clock, under which they would look fresh.
   */
  async keep(p: Process): Promise<void> {
    if (p.life.dead) return;
    p.life.disarm();
    await p.market.events.relay.release();
    this.#pool.push(p);
  }

  /** Sagas not completed, compensated or resolved (read straight from the database). */
  sagasNotEnded(): { id: string; name: string; status: string; lastError: string | null }[] {
    const sql = `select id, name, status, last_error as lastError from ${this.#prefix}saga_instances
      where status not in ('completed', 'compensated', 'resolved') order by id`;
    return this.#statement(sql).all() as { id: string; name: string; status: string; lastError: string | null }[];
  }

  /** Ids of the orders in one of `states`. */
  ordersIn(states: readonly string[]): string[] {
    const sql = `select id from ${this.#prefix}orders where state in (${states.map(() => '?').join(', ')}) order by id`;
    return (this.#statement(sql).all(...states) as { id: string }[]).map((r) => r.id);
  }

  #statement(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Closes the database. The processes are dropped, never closed: their drivers would close the shared connection. */
  close(): void {
    this.#db.close();
  }

  #open(life: ProcessLife | undefined): Marketplace {
    const adapter = sqliteAdapter({ database: this.#db as never });
    return createMarketplace({
      ...this.#options,
      adapter: life === undefined ? adapter : life.adapter(adapter),
      clock: this.clock,
      payments: life === undefined ? this.#provider : life.provider(this.#provider),
      logger: silent,
    });
  }
}

/** A provider that forwards every call to `current()`, so long-lived marketplaces reach each run's sandbox. */
function forwarding(current: () => SandboxPaymentProvider): PaymentProvider {
  return new Proxy({} as PaymentProvider, {
    get(_, prop) {
      const target = current();
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
    has: (_, prop) => Reflect.has(current(), prop),
  });
}

/** One run: the context its actions and invariants see. @internal */
export class SimulationWorld implements SimulationContext {
  readonly orders: string[] = [];
  readonly scratch = new Map<string, unknown>();
  readonly listingId = SIM_LISTING;
  readonly #engine: SimulationEngine;
  readonly #slots: Process[] = [];

  constructor(
    engine: SimulationEngine,
    readonly workers: number,
  ) {
    this.#engine = engine;
    for (let i = 0; i < workers; i++) this.#slots.push(engine.take());
  }

  get clock() {
    return this.#engine.clock;
  }
  get provider() {
    return this.#engine.provider;
  }
  get auditor() {
    return this.#engine.auditor;
  }
  get engine() {
    return this.#engine;
  }

  market(index: number): Marketplace {
    return this.#slot(index).market;
  }

  worker(index: number): Worker {
    return this.#slot(index).worker;
  }

  /** Whether worker `index` is dead (crashed and not restarted yet). */
  isDead(index: number): boolean {
    return this.#slots[index % this.workers]!.life.dead;
  }

  /** Arms worker `index` to crash at its `points`th step boundary from now. */
  crash(index: number, points: number): void {
    this.#slot(index).life.arm(points);
  }

  /** Hands the live processes back to the engine for the next run. */
  async finish(): Promise<void> {
    for (const p of this.#slots) await this.#engine.keep(p);
  }

  /** Worker `index`, restarted first (a new process) if it crashed. */
  #slot(index: number): Process {
    const i = index % this.workers;
    if (this.#slots[i]!.life.dead) this.#slots[i] = this.#engine.take();
    return this.#slots[i]!;
  }
}
