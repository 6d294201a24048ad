import pg from 'pg';
import { MARKETKIT_PG_URL_ENV, postgresUrlFromEnv } from './postgres-url.js';
import { startThrowawayPostgres } from './throwaway-postgres.js';

/**
 * Vitest `globalSetup` that guarantees a PostgreSQL server for the test run, so PostgreSQL tests never skip.
 *
 * - `MARKETKIT_PG_URL` unset or empty: starts a throwaway server ({@link startThrowawayPostgres}), sets
 *   `process.env.MARKETKIT_PG_URL` to its URL, prints one line saying so, and stops it on teardown. Vitest
 *   builds each forked worker's environment from `process.env` when the tests are dispatched, which is after
 *   global setup, so workers (pool `forks` or `threads`) see the variable.
 * - `MARKETKIT_PG_URL` set: checks that the server answers `select 1` and fails the run with a clear
 *   message if it does not.
 *
 * @returns The teardown, which stops the throwaway server if one was started.
 * @example
 * ```ts
 * // vitest.config.ts
 * export default defineConfig({
 *   test: { globalSetup: ['./packages/testing/src/postgres/vitest-global-setup.ts'] },
 * });
 * ```
 */
export default async function setup(): Promise<() => Promise<void>> {
  const configured = postgresUrlFromEnv();
  if (configured !== undefined) {
    await checkServerAnswers(configured);
    return async () => {};
  }

  const started = Date.now();
  const server = await startThrowawayPostgres();
  process.env[MARKETKIT_PG_URL_ENV] = server.url;
  const port = new URL(server.url).port;
  console.log(
    `[marketkit] ${MARKETKIT_PG_URL_ENV} not set: started a throwaway PostgreSQL on 127.0.0.1:${port} ` +
      `in ${Date.now() - started} ms for this test run.`,
  );
  return async () => {
    await server.stop();
    if (process.env[MARKETKIT_PG_URL_ENV] === server.url) delete process.env[MARKETKIT_PG_URL_ENV];
  };
}

async function checkServerAnswers(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new Error(
      `${MARKETKIT_PG_URL_ENV} is set to ${redact(url)} but that PostgreSQL server does not answer ` +
        `\`select 1\`: ${error instanceof Error ? error.message : String(error)}. ` +
        `Start the server, fix the URL, or unset ${MARKETKIT_PG_URL_ENV} to use a throwaway server.`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
