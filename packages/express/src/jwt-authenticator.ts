import type { Actor } from '@marketkit/core';
import type { Request } from 'express';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Authenticate } from './actor-source.js';
import { VerifiedTokenCache, type VerifiedTokenCacheOptions } from './verified-token-cache.js';

/** Options of {@link jwtAuthenticator}: one of `secret` (HS256/384/512) or `jwksUrl` (public keys). */
export type JwtAuthenticatorOptions = {
  /** Expected `iss`. */
  readonly issuer: string;
  /** Expected `aud`. */
  readonly audience: string;
  /** The claim that holds the role. Default `role`. */
  readonly roleClaim?: string;
  /** The claim that holds the actor id. Default `sub`. */
  readonly subjectClaim?: string;
  /** Roles a token may carry. Default buyer, seller and operator (never `system`: that is the host's own code). */
  readonly roles?: readonly Actor['role'][];
  /** Allowed clock skew in seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
  /**
   * Answers a token verified recently from memory, until its `exp` (plus the tolerance) and for at most
   * `maxAgeSeconds`: an HS256 verification costs tens of microseconds of CPU and a trip to libuv's thread pool on
   * every request, while a client sends the same token for many. Only tokens that verified are kept, by their exact
   * text. Default `{ maxEntries: 10_000, maxAgeSeconds: 60 }`; `false` verifies every request.
   */
  readonly verifiedTokenCache?: VerifiedTokenCacheOptions | false;
} & (
  | { readonly secret: string | Uint8Array; readonly jwksUrl?: never }
  | { readonly jwksUrl: string | URL; readonly secret?: never }
);

const optionsSchema = z.object({
  issuer: z.string().min(1),
  audience: z.string().min(1),
  roleClaim: z.string().min(1).optional(),
  subjectClaim: z.string().min(1).optional(),
  roles: z.array(z.enum(['buyer', 'seller', 'operator', 'system'])).optional(),
  clockToleranceSeconds: z.number().int().min(0).max(300).optional(),
  secret: z.union([z.string().min(32), z.instanceof(Uint8Array)]).optional(),
  jwksUrl: z.union([z.string().url(), z.instanceof(URL)]).optional(),
  verifiedTokenCache: z
    .union([
      z.literal(false),
      z.strictObject({
        maxEntries: z.number().int().min(1).max(10_000_000).optional(),
        maxAgeSeconds: z.number().min(0).max(3600).optional(),
      }),
    ])
    .optional(),
});

const actorId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\x21-\x7e]+$/);

/**
 * An {@link Authenticate} for `Authorization: Bearer <JWT>`, verified with `jose`: signature (a shared secret or
 * a JWKS), expiry, `iss` and `aud`. The role and the id are read from the verified claims only; a missing,
 * malformed, expired or wrongly signed token, or one with an unknown role, gives no actor (401).
 *
 * @example
 * ```ts
 * app.use('/api', marketkitRouter(market, {
 *   authenticate: jwtAuthenticator({ secret: process.env.JWT_SECRET!, issuer: 'shop', audience: 'shop-api' }),
 * }));
 * ```
 */
export function jwtAuthenticator(options: JwtAuthenticatorOptions): Authenticate {
  const o = optionsSchema.parse(options);
  if ((o.secret === undefined) === (o.jwksUrl === undefined)) {
    throw new TypeError('jwtAuthenticator needs exactly one of secret and jwksUrl.');
  }
  const key =
    o.secret !== undefined
      ? typeof o.secret === 'string'
        ? new TextEncoder().encode(o.secret)
        : o.secret
      : createRemoteJWKSet(new URL(String(o.jwksUrl)));
  const cache =
    o.verifiedTokenCache === false
      ? undefined
      : new VerifiedTokenCache(o.verifiedTokenCache?.maxEntries ?? 10_000, o.verifiedTokenCache?.maxAgeSeconds ?? 60);
  const roles = new Set<string>(o.roles ?? ['buyer', 'seller', 'operator']);
  const roleClaim = o.roleClaim ?? 'role';
  const subjectClaim = o.subjectClaim ?? 'sub';
  const tolerance = o.clockToleranceSeconds ?? 5;
  const verifyOptions = { issuer: o.issuer, audience: o.audience, clockTolerance: tolerance };
  return async (req: Request): Promise<Actor | undefined> => {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    const token = match?.[1];
    if (token === undefined) return undefined;
    const cached = cache?.get(token, Date.now());
    if (cached !== undefined) return cached;
    let payload: JWTPayload;
    try {
      payload =
        key instanceof Uint8Array
          ? (await jwtVerify(token, key, verifyOptions)).payload
          : (await jwtVerify(token, key, verifyOptions)).payload;
    } catch {
      return undefined;
    }
    const role = payload[roleClaim];
    const id = actorId.safeParse(payload[subjectClaim]);
    if (typeof role !== 'string' || !roles.has(role) || !id.success) return undefined;
    const actor: Actor = Object.freeze({ role: role as Actor['role'], id: id.data });
    // jose rejects a token once now >= exp + tolerance: the cached answer holds exactly as long.
    const expiresAt = typeof payload.exp === 'number' ? (payload.exp + tolerance) * 1000 : undefined;
    cache?.set(token, actor, expiresAt, Date.now());
    return actor;
  };
}
