/**
 * What a new connection must find on the server it reaches, as libpq's `target_session_attrs`: `any` server,
 * one that takes writes (`read-write`: `SHOW transaction_read_only` is `off`), or one not in recovery (`primary`).
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

const TARGETS: ReadonlySet<string> = new Set<TargetSessionAttrs>(['any', 'read-write', 'primary']);

/** A connection string naming several hosts, split into one single-host string per host, in order. */
export interface PostgresHosts {
  /** One connection string per host, in the order given, without `target_session_attrs` (pg does not take it). */
  readonly urls: readonly string[];
  /** What each new connection checks before it is kept. */
  readonly targetSessionAttrs: TargetSessionAttrs;
}

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/s;
const TARGET_PARAM = /([?&])target_session_attrs=([^&#]*)(&?)/;

/**
 * Reads a libpq multi-host URL, `postgres://user@host1:5432,host2:5432/db?target_session_attrs=read-write`: the
 * hosts (each with its own port, or none for 5432) in order, and `target_session_attrs` (default `any`).
 * `undefined` for a string that names one host and no `target_session_attrs` (pg reads those itself), and for a
 * string that is no `postgres://` URL, or has an empty host or a `target_session_attrs` this adapter does not have
 * (the config schema refuses those with {@link multiHostProblem}).
 */
export function parsePostgresHosts(connectionString: string): PostgresHosts | undefined {
  const parts = URL_PARTS.exec(connectionString);
  if (parts === null) return undefined;
  const [, scheme = '', userinfo = '', hostList = '', rest = ''] = parts;
  const target = TARGET_PARAM.exec(rest);
  const hosts = hostList.split(',');
  if (hosts.length === 1 && target === null) return undefined;
  if (hosts.some((h) => h === '')) return undefined;
  const attrs = target === null ? 'any' : decoded(target[2] ?? '');
  if (!TARGETS.has(attrs)) return undefined;
  // Drop the parameter, keeping the `?` or `&` before it only when another parameter follows.
  const plain =
    target === null ? rest : rest.replace(TARGET_PARAM, (_m, sep: string, _v, amp: string) => (amp ? sep : ''));
  return {
    urls: hosts.map((host) => `${scheme}${userinfo}${host}${plain}`),
    targetSessionAttrs: attrs as TargetSessionAttrs,
  };
}

/**
 * Why `connectionString` is no multi-host URL this adapter takes, or `undefined` when it is one (or names a single
 * host, which pg checks). Never repeats the string (it may hold a password).
 */
export function multiHostProblem(connectionString: string): string | undefined {
  const parts = URL_PARTS.exec(connectionString);
  if (parts === null) return undefined;
  const rest = parts[4] ?? '';
  const target = TARGET_PARAM.exec(rest);
  if (target !== null && !TARGETS.has(decoded(target[2] ?? ''))) {
    return 'target_session_attrs must be one of any, read-write, primary';
  }
  const hosts = (parts[3] ?? '').split(',');
  if ((hosts.length > 1 || target !== null) && hosts.some((h) => h === '')) {
    return 'a multi-host URL, or one with target_session_attrs, must name every host (no empty host, no socket)';
  }
  return undefined;
}

/** `text` URL-decoded, or as it is when it is malformed (then it matches no known value). */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
