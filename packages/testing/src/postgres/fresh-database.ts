import { randomInt } from 'node:crypto';
import pg from 'pg';

/**
 * A database created by {@link createFreshDatabase}.
 *
 * @example
 * ```ts
 * const db: FreshDatabase = await createFreshDatabase(baseUrl);
 * const client = new pg.Client({ connectionString: db.url });
 * ```
 */
export type FreshDatabase = {
  /** Connection URL of the new database: the base URL with only its path replaced. */
  readonly url: string;
  /** Name of the new database, e.g. `mk_t_3k9x0qz1abcd`. */
  readonly name: string;
  /** Drops the database, disconnecting any remaining sessions (`WITH (FORCE)`). Safe to call more than once. */
  drop(): Promise<void>;
};

/**
 * Options for {@link createFreshDatabase}.
 *
 * @example
 * ```ts
 * const options: FreshDatabaseOptions = { prefix: 'mk_ledger_' };
 * ```
 */
export type FreshDatabaseOptions = {
  /** Start of the database name: lowercase letters, digits and `_`, starting with a letter or `_`. Default `mk_t_`. */
  prefix?: string;
};

const DEFAULT_PREFIX = 'mk_t_';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const RANDOM_LENGTH = 12;
const MAX_IDENTIFIER_LENGTH = 63;
const OBJECT_IN_USE = '55006';
const DUPLICATE_DATABASE = '42P04';

/**
 * Creates a new, empty database with a random name on the server at `baseUrl`, so each test file gets its
 * own isolated database. Safe to call concurrently from many test files and workers.
 *
 * @param baseUrl - URL of any database on the server, as a user allowed to `CREATE DATABASE`.
 * @param options - Optional name prefix.
 * @returns The new database; call `drop()` when done.
 * @example
 * ```ts
 * const db = await createFreshDatabase(process.env.MARKETKIT_PG_URL!);
 * try {
 *   const client = new pg.Client({ connectionString: db.url });
 *   // …
 * } finally {
 *   await db.drop();
 * }
 * ```
 */
export async function createFreshDatabase(baseUrl: string, options: FreshDatabaseOptions = {}): Promise<FreshDatabase> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix) || prefix.length + RANDOM_LENGTH > MAX_IDENTIFIER_LENGTH) {
    throw new Error(
      `createFreshDatabase: invalid prefix ${JSON.stringify(prefix)}: use [a-z0-9_], ` +
        `start with a letter or _, at most ${MAX_IDENTIFIER_LENGTH - RANDOM_LENGTH} characters`,
    );
  }

  let name = '';
  await withClient(baseUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      name = prefix + randomSuffix();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
        return;
      } catch (error) {
        // 55006: someone is connected to the template database; 42P04: name collision. Both are transient.
        const code = errorCode(error);
        if (attempt >= 20 || (code !== OBJECT_IN_USE && code !== DUPLICATE_DATABASE)) throw error;
        await sleep(Math.min(50 * attempt, 500) + randomInt(50));
      }
    }
  });

  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop(): Promise<void> {
      dropping ??= withClient(baseUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      });
      return dropping;
    },
  };
}

async function withClient(url: string, use: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on('error', () => {});
  await client.connect();
  try {
    await use(client);
  } finally {
    await client.end();
  }
}

function randomSuffix(): string {
  let suffix = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return suffix;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
