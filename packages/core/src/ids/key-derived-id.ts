import { hash } from 'node:crypto';

/**
 * The id of the resource an idempotency key names: `<prefix>_` + 32 hex digits of SHA-256 over the actor and the
 * key, so the same actor's same key always names the same order or payout, in any process.
 */
export function keyDerivedId(prefix: string, actor: string, key: string): string {
  return `${prefix}_${hash('sha256', `${actor}\u0000${key}`, 'hex').slice(0, 32)}`;
}
