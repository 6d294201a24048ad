import type { Actor } from '@marketkit/core';
import type { Request } from 'express';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Authenticate } from './actor-source.js';

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
  const roles = new Set<string>(o.roles ?? ['buyer', 'seller', 'operator']);
  const roleClaim = o.roleClaim ?? 'role';
  const subjectClaim = o.subjectClaim ?? 'sub';
  const verifyOptions = { issuer: o.issuer, audience: o.audience, clockTolerance: o.clockToleranceSeconds ?? 5 };
  return async (req: Request): Promise<Actor | undefined> => {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (match?.[1] === undefined) return undefined;
    let payload: JWTPayload;
    try {
      payload =
        key instanceof Uint8Array
          ? (await jwtVerify(match[1], key, verifyOptions)).payload
          : (await jwtVerify(match[1], key, verifyOptions)).payload;
    } catch {
      return undefined;
    }
    const role = payload[roleClaim];
    const id = actorId.safeParse(payload[subjectClaim]);
    if (typeof role !== 'string' || !roles.has(role) || !id.success) return undefined;
    return { role: role as Actor['role'], id: id.data };
  };
}
