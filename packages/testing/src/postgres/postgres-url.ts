/**
 * Name of the environment variable that points Marketkit's PostgreSQL tests at a server.
 *
 * @example
 * ```ts
 * process.env[MARKETKIT_PG_URL_ENV] = 'postgres://root@127.0.0.1:5432/test';
 * ```
 */
export const MARKETKIT_PG_URL_ENV = 'MARKETKIT_PG_URL';

/**
 * Reads the PostgreSQL connection URL for tests from `process.env.MARKETKIT_PG_URL`.
 *
 * An empty (or whitespace-only) value counts as unset.
 *
 * @returns The URL, or `undefined` when the variable is unset or empty.
 * @example
 * ```ts
 * const url = postgresUrlFromEnv();
 * if (url === undefined) throw new Error('no PostgreSQL configured');
 * ```
 */
export function postgresUrlFromEnv(): string | undefined {
  const value = process.env[MARKETKIT_PG_URL_ENV]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Like {@link postgresUrlFromEnv}, but throws when `MARKETKIT_PG_URL` is unset. Inside a vitest run that uses
 * Marketkit's global setup it is always set: the global setup starts a throwaway server when needed and
 * forked test workers inherit the variable.
 *
 * @returns The URL from `MARKETKIT_PG_URL`.
 * @example
 * ```ts
 * const db = await createFreshDatabase(requirePostgresUrl());
 * ```
 */
export function requirePostgresUrl(): string {
  const url = postgresUrlFromEnv();
  if (url === undefined) {
    throw new Error(
      `${MARKETKIT_PG_URL_ENV} is not set. Run the tests through vitest with ` +
        `packages/testing/src/postgres/vitest-global-setup.ts as globalSetup, or set ${MARKETKIT_PG_URL_ENV}.`,
    );
  }
  return url;
}
