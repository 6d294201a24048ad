/** The names of the backends shared test bodies run on. */
export const BACKEND_NAMES = ['sqlite', 'postgres'] as const;
/**
 * Backends run only when `MARKETKIT_BACKENDS` names them: `pgbouncer` is PostgreSQL reached through the pooler at
 * `MARKETKIT_PG_POOLER_URL` (PgBouncer in transaction mode, `scripts/pg/pgbouncer.sh start`).
 */
export const OPT_IN_BACKEND_NAMES = ['pgbouncer'] as const;
/** One of {@link BACKEND_NAMES} or {@link OPT_IN_BACKEND_NAMES}. */
export type BackendName = (typeof BACKEND_NAMES)[number] | (typeof OPT_IN_BACKEND_NAMES)[number];

/**
 * The backends `MARKETKIT_BACKENDS` asks for (comma-separated, e.g. `postgres` or `sqlite,postgres`), or every
 * backend when it is unset. A name that is not a backend, or a list naming none, throws: a typo must not quietly
 * drop a backend from the run.
 *
 * @throws {Error} for an empty list, an unknown name, or a name given twice.
 * @example
 * ```ts
 * wantedBackendNames(); // ['sqlite', 'postgres'] unless MARKETKIT_BACKENDS says otherwise
 * ```
 */
export function wantedBackendNames(): readonly BackendName[] {
  const raw = process.env['MARKETKIT_BACKENDS'];
  if (raw === undefined) return BACKEND_NAMES;
  const names = raw.split(',').map((s) => s.trim());
  const known = (n: string): n is BackendName =>
    (BACKEND_NAMES as readonly string[]).includes(n) || (OPT_IN_BACKEND_NAMES as readonly string[]).includes(n);
  const unknown = names.filter((n) => !known(n));
  if (unknown.length > 0 || new Set(names).size !== names.length)
    throw new Error(
      `MARKETKIT_BACKENDS must list backends among ${[...BACKEND_NAMES, ...OPT_IN_BACKEND_NAMES].join(', ')}, comma-separated, each once; got '${raw}'` +
        (unknown.length > 0 ? ` (unknown: ${unknown.map((n) => `'${n}'`).join(', ')})` : ''),
    );
  return names.filter(known);
}
