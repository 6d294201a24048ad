import { hash } from 'node:crypto';

/**
 * The id of the resource an idempotency key names: `<prefix>_` + 32 hex digits of SHA-256 over the actor and the
 * key, so the same actor's same key always names the same order or payout, in any process. A key used again after
 * its window expired counts as never used and names a new resource: `generation` 2, 3, … (1, the default, is the
 * key's first use).
 */
export function keyDerivedId(prefix: string, actor: string, key: string, generation = 1): string {
  const text = generation === 1 ? `${actor}\u0000${key}` : `${actor}\u0000${key}\u0000${generation}`;
  return `${prefix}_${hash('sha256', text, 'hex').slice(0, 32)}`;
}

/**
 * The id of the resource `actor`'s `key` names now: the first generation whose resource does not exist or was
 * created less than `ttlMs` before `now` (its key's window is still open). `createdAt(id)` reads a resource's
 * creation time, `undefined` when it does not exist.
 */
export async function currentKeyDerivedId(
  prefix: string,
  actor: string,
  key: string,
  window: { readonly now: number; readonly ttlMs: number },
  createdAt: (id: string) => Promise<number | undefined>,
): Promise<string> {
  for (let generation = 1; ; generation++) {
    const id = keyDerivedId(prefix, actor, key, generation);
    const at = await createdAt(id);
    if (at === undefined || at + window.ttlMs > window.now) return id;
  }
}
