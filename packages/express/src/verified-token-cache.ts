import type { Actor } from '@marketkit/core';

/** Options of the cache of verified tokens (`jwtAuthenticator`'s `verifiedTokenCache`). */
export interface VerifiedTokenCacheOptions {
  /** Most tokens kept; past it the oldest entry goes. Default 10,000. */
  readonly maxEntries?: number;
  /**
   * Longest time a verified token is answered from the cache before it is verified again, in seconds, however far
   * its `exp`. Default 60. With `jwksUrl`, a key removed from the JWKS still admits the tokens it signed for up to
   * this long (jose's own JWKS cache already keeps keys for minutes).
   */
  readonly maxAgeSeconds?: number;
}

/**
 * Tokens verified recently, by their exact text, with the actor they gave and until when that answer holds: the
 * token's `exp` plus the clock tolerance, and at most `maxAgeSeconds` after the verification. A signature and
 * `iss`/`aud` checked once stay valid for the same bytes under the same key; only the time checks move, and they
 * are redone from the stored bound. Only tokens that verified are kept. @internal
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, { readonly actor: Actor; readonly until: number }>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;

  constructor(maxEntries: number, maxAgeSeconds: number) {
    this.#maxEntries = maxEntries;
    this.#maxAgeMs = maxAgeSeconds * 1000;
  }

  /** The actor of a token verified before and still within its bound, else `undefined`. */
  get(token: string, now: number): Actor | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (now < entry.until) return entry.actor;
    this.#entries.delete(token);
    return undefined;
  }

  /** Keeps a verified token's actor; `expiresAt` is its `exp` plus the tolerance, in ms (undefined: none). */
  set(token: string, actor: Actor, expiresAt: number | undefined, now: number): void {
    const until = Math.min(expiresAt ?? Number.POSITIVE_INFINITY, now + this.#maxAgeMs);
    if (until <= now) return;
    this.#entries.delete(token);
    this.#entries.set(token, { actor, until });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }
}
