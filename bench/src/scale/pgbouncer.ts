/**
 * A PgBouncer of the benchmark's own, in transaction pooling mode, in front of the benchmark's PostgreSQL server:
 * started on a free port with a minimal configuration in a temporary directory, stopped at the end.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Server connections PgBouncer keeps per database and user (as `scripts/pg/pgbouncer.sh` configures it). */
export const BOUNCER_POOL_SIZE = 10;

/** A running PgBouncer. */
export interface PgBouncer {
  /** Its process id (for its CPU time). */
  readonly pid: number;
  /** `PgBouncer 1.18.0`. */
  readonly version: string;
  /** The URL of `database` through it. */
  url(database: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts `pgbouncer` (from the PATH) for the server of `serverUrl`, as the `postgres` user when run as root (it
 * refuses to run as root). Returns why not, as a string, when it cannot (no `pgbouncer` on the PATH, or it exits).
 */
export async function startPgBouncer(serverUrl: string): Promise<PgBouncer | string> {
  const probe = spawnSync('pgbouncer', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return 'no pgbouncer on the PATH';
  const version = probe.stdout.split('\n')[0]?.trim() ?? 'PgBouncer';
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'marketkit-bench-pgbouncer-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${decodeURIComponent(server.password)}"\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      `auth_type = ${server.password === '' ? 'trust' : 'plain'}`,
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 1000',
      `default_pool_size = ${BOUNCER_POOL_SIZE}`,
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits,statement_timeout,plan_cache_mode',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; !(await accepts(port)); i++) {
    if (child.exitCode !== null || i > 50) {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
      return `pgbouncer did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    version,
    url: (database) =>
      `postgres://${server.username}${server.password ? `:${server.password}` : ''}@127.0.0.1:${port}/${database}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
